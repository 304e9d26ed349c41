"""Small training utilities shared by the data-parallel lessons.

Taught in notebooks/04_mirrored_strategy.ipynb (comparing the weights that 1, 2 and 4
replicas learn; timing each epoch of ``fit``) and reused in
notebooks/05_custom_loop_and_allreduce.ipynb.

TensorFlow and Keras are imported inside the functions, never at module import.
"""

from __future__ import annotations

import time

import numpy as np


def max_weight_diff(weights_a, weights_b) -> float:
    """Largest absolute difference between two lists of weight arrays, as a float.

    Pass ``model.get_weights()`` of two models with the same architecture. The lists
    must have the same length and each pair the same shape, and every weight must be
    finite (a diverged model is never equivalent); anything else raises ValueError,
    because a silent broadcast or NaN (``max(0.0, nan)`` is 0.0) would mislead.
    """
    weights_a, weights_b = list(weights_a), list(weights_b)
    if not weights_a:
        raise ValueError("no weights to compare: pass model.get_weights() of a built model")
    if len(weights_a) != len(weights_b):
        raise ValueError(
            f"the models have {len(weights_a)} and {len(weights_b)} weight arrays: "
            "compare two models with the same architecture"
        )
    largest = 0.0
    for index, (a, b) in enumerate(zip(weights_a, weights_b, strict=True)):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            raise ValueError(
                f"weight {index} has shape {a.shape} in one model and {b.shape} in the other: "
                "compare two models with the same architecture"
            )
        for which, w in (("first", a), ("second", b)):
            if not np.all(np.isfinite(w)):
                raise ValueError(f"weight {index} is not finite in the {which} model (NaN or inf): "
                                 "it diverged; lower the learning rate or check the data")
        if a.size:
            largest = max(largest, float(np.max(np.abs(a.astype(np.float64) - b))))
    return largest


def epoch_timer():
    """A Keras callback that records the wall seconds of every epoch in ``.seconds``.

    The first epoch includes tracing (and, with a strategy, building the per-replica
    graphs): treat it as the warm-up and use the later epochs as repeats.
    """
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds: list[float] = []
            self._start = None

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)

    return EpochTimer()
