"""Magnitude pruning for Keras 3 models: a schedule, a callback, strip, and size checks.

Taught in notebooks/09_pruning.ipynb (the schedule and the magnitude mask are written
out there); reused by notebooks/13_optimization_summary.ipynb.

Why hand-written: TensorFlow Model Optimization (tfmot 0.8.1) prunes only Keras 2
(``tf_keras``) models; ``prune_low_magnitude`` rejects a Keras 3 model. The TF-MOT
route, in a legacy-Keras kernel, is in notebooks/11_tfmot_legacy_keras.ipynb.

Unlike TF-MOT, no layer is wrapped: the masks live in the ``UpdatePruningMasks``
callback, which recomputes them on the schedule and attaches a variable constraint that
the optimizer applies after every step (kernel = kernel * mask). ``strip`` then returns
a plain copy of the model (no constraint, no optimizer state) with the masks applied.
Typical use::

    schedule = PolynomialDecay(0.0, 0.8, begin_step=0, end_step=66, frequency=5)
    pruning = UpdatePruningMasks(schedule)
    model.fit(train_ds, epochs=5, callbacks=[pruning])
    small = strip(model, pruning.masks)
    sparsity_report(small); gzip_size(small)

TensorFlow/Keras are imported inside functions: ``import hpclab.prune`` does not start
the TF runtime.
"""

from __future__ import annotations

import gzip
import os
import tempfile

import numpy as np

from hpclab import checks, lazy_classes

PRUNABLE_TYPES = ("Dense", "Conv1D", "Conv2D", "Conv3D")


def _check_sparsity(name: str, value) -> float:
    return checks.number(name, value, low=0.0, high=1.0, high_open=True, example=0.8)


class PolynomialDecay:
    """The TF-MOT sparsity schedule (Zhu & Gupta 2017), in plain Python.

    sparsity(t) = s_f + (s_i - s_f) * (1 - p)**power,  p = clip((t - begin) / (end - begin), 0, 1)

    Masks are recomputed at steps t (1, 2, ... = batches completed) with
    ``begin_step <= t <= end_step`` and ``(t - begin_step) % frequency == 0``, as in TF-MOT,
    and also at ``t = end_step``, so that the run ends at ``final_sparsity`` exactly (TF-MOT
    skips it when ``frequency`` does not divide the window). A run needs at least
    ``begin_step + frequency`` steps to prune at all: TF-MOT's default ``frequency=100``
    never prunes a 22-step run, and here a window shorter than ``frequency`` is an error.
    """

    def __init__(self, initial_sparsity=0.0, final_sparsity=0.8, *, begin_step=0,
                 end_step, power=3, frequency=10):
        self.initial_sparsity = _check_sparsity("initial_sparsity", initial_sparsity)
        self.final_sparsity = _check_sparsity("final_sparsity", final_sparsity)
        self.begin_step = checks.integer("begin_step", begin_step, minimum=0, example=0)
        self.end_step = checks.integer("end_step", end_step, example=100)
        self.frequency = checks.integer("frequency", frequency, example=5)
        self.power = checks.number("power", power, low=0, low_open=True, example=3)
        if self.end_step <= self.begin_step:
            raise ValueError(
                f"end_step must be > begin_step; got begin_step={begin_step}, end_step={end_step}"
            )
        if self.frequency > self.end_step - self.begin_step:
            raise ValueError(
                f"frequency={frequency} is longer than the pruning window "
                f"[{begin_step}, {end_step}]: the masks would never be updated; "
                f"use frequency <= {self.end_step - self.begin_step}"
            )

    def sparsity(self, step) -> float:
        """Target sparsity at ``step``."""
        span = self.end_step - self.begin_step
        p = min(1.0, max(0.0, (step - self.begin_step) / span))
        s_i, s_f = self.initial_sparsity, self.final_sparsity
        return s_f + (s_i - s_f) * (1 - p) ** self.power

    def should_prune(self, step) -> bool:
        """True at the steps where the masks are recomputed."""
        return self.begin_step <= step <= self.end_step and (
            (step - self.begin_step) % self.frequency == 0 or step == self.end_step)

    def update_steps(self, total_steps: int) -> list:
        """The steps in 1..total_steps at which masks are recomputed."""
        return [t for t in range(1, total_steps + 1) if self.should_prune(t)]

    def __call__(self, step):
        """``(should_prune, sparsity)`` like TF-MOT's schedules."""
        return self.should_prune(step), self.sparsity(step)

    def __repr__(self):
        return (f"PolynomialDecay({self.initial_sparsity}, {self.final_sparsity}, "
                f"begin_step={self.begin_step}, end_step={self.end_step}, "
                f"power={self.power}, frequency={self.frequency})")


def magnitude_mask(weights, sparsity) -> np.ndarray:
    """A 0/1 float32 mask keeping the ``round(n * (1 - sparsity))`` largest |weights| (>= 1)."""
    sparsity = _check_sparsity("sparsity", sparsity)
    w = np.abs(np.asarray(weights, dtype=np.float32)).ravel()
    keep = max(int(round(w.size * (1.0 - sparsity))), 1)
    mask = np.zeros(w.size, dtype=np.float32)
    mask[np.argsort(-w, kind="stable")[:keep]] = 1.0
    return mask.reshape(np.shape(weights))


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):  # a nested model
            yield from _all_layers(layer)


def prunable_layers(model, layers=None) -> list:
    """The layers whose kernels get pruned: every Dense/ConvND, or those named in ``layers``."""
    found = [lyr for lyr in _all_layers(model)
             if type(lyr).__name__ in PRUNABLE_TYPES or any(
                 c.__name__ in PRUNABLE_TYPES for c in type(lyr).__mro__[1:])]
    if layers is not None:
        names = [getattr(lyr, "name", lyr) for lyr in layers]
        unknown = sorted(set(names) - {lyr.name for lyr in found})
        if unknown:
            raise ValueError(
                f"layers {unknown} are not prunable layers of {model.name!r}; "
                f"choose from {[lyr.name for lyr in found]}"
            )
        found = [lyr for lyr in found if lyr.name in names]
    if not found:
        kinds = sorted({type(lyr).__name__ for lyr in _all_layers(model)})
        raise ValueError(
            f"model {model.name!r} has no prunable layers (Dense or Conv with a kernel); "
            f"its layers are {kinds}. Add a Dense/Conv2D layer or pick another model."
        )
    unbuilt = [lyr.name for lyr in found if not lyr.built]
    if unbuilt:
        raise ValueError(
            f"layers {unbuilt} are not built yet: start the model with keras.Input(...) "
            "or call it on a batch before pruning"
        )
    return found


def _check_schedule(schedule):
    if not isinstance(schedule, PolynomialDecay):
        raise TypeError(
            "schedule must be a hpclab.prune.PolynomialDecay, e.g. "
            f"PolynomialDecay(0.0, 0.8, end_step=100, frequency=5); got {schedule!r}"
        )
    return schedule


def _make_callback_class():
    import keras

    class _KeepMasked(keras.constraints.Constraint):
        """kernel -> kernel * mask after every optimizer step (inside the compiled step)."""

        def __init__(self, mask, inner=None):
            self.mask, self.inner = mask, inner

        def __call__(self, w):
            w = self.inner(w) if self.inner is not None else w
            return w * keras.ops.cast(self.mask, w.dtype)

    class UpdatePruningMasks(keras.callbacks.Callback):
        """Keras 3 callback: magnitude pruning of Dense/Conv kernels on a schedule.

        Counts the optimizer steps taken while it is attached (``self.step``, kept across
        ``fit`` calls; read from ``model.optimizer.iterations``, so ``steps_per_execution``
        > 1 works). At the end of each call in which ``schedule.should_prune(step)`` held
        it recomputes each mask from the current |kernel| and zeroes the pruned weights.
        In between, a variable constraint (applied by the optimizer inside the compiled
        train step, after each update) keeps ``kernel = kernel * mask``, so pruned weights
        stay zero whatever the optimizer does; the constraint stays on the model until you
        ``strip`` it (later fits keep the masks).

        ``layers``: names (or layers) to prune, default every Dense/Conv. ``masks``:
        {layer name: 0/1 float32 array}. ``log``: one dict per mask update (step, target,
        sparsity of the pruned kernels). TensorFlow backend (the course's). No wrapper
        layers, because TF-MOT cannot prune Keras 3 models. Taught in notebooks/09_pruning.ipynb.
        """

        def __init__(self, schedule, layers=None):
            super().__init__()
            self.schedule = _check_schedule(schedule)
            self.layer_names = layers
            self.step = 0
            self.masks = {}
            self.log = []
            self._layers = []
            self._mask_vars = {}

        def reset(self, schedule=None):
            """Start again (step 0, all-ones masks), e.g. for the next point of a sweep;
            the constraints stay attached, so the traced train step is reused."""
            if schedule is not None:
                self.schedule = _check_schedule(schedule)
            self.step, self.log = 0, []
            for name in self.masks:
                self.masks[name] = np.ones_like(self.masks[name])
                self._mask_vars[name].assign(self.masks[name])

        def on_train_begin(self, logs=None):
            self._layers = prunable_layers(self.model, self.layer_names)
            attached = False
            for layer in self._layers:
                self.masks.setdefault(layer.name, np.ones(layer.kernel.shape, dtype=np.float32))
                if layer.name not in self._mask_vars:
                    self._mask_vars[layer.name] = keras.Variable(
                        self.masks[layer.name], trainable=False, name=f"{layer.name}_mask")
                constraint = layer.kernel.constraint
                if not (isinstance(constraint, _KeepMasked)
                        and constraint.mask is self._mask_vars[layer.name]):
                    layer.kernel.constraint = _KeepMasked(self._mask_vars[layer.name], constraint)
                    attached = True
            if attached:  # a train step traced before has no constraint in it: retrace
                self.model.make_train_function(force=True)
            self._seen = self._iterations()

        def _iterations(self):
            return int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

        def on_train_batch_end(self, batch, logs=None):
            now, first = self._iterations(), self.step + 1  # one call per steps_per_execution
            self.step, self._seen = self.step + now - self._seen, now
            if not any(self.schedule.should_prune(t) for t in range(first, self.step + 1)):
                return
            target = self.schedule.sparsity(self.step)
            for layer in self._layers:
                kernel = keras.ops.convert_to_numpy(layer.kernel)
                mask = magnitude_mask(kernel * self.masks[layer.name], target)
                self.masks[layer.name] = mask
                self._mask_vars[layer.name].assign(mask)
                layer.kernel.assign(kernel * mask)
            zeros = sum(float((self.masks[lyr.name] == 0).sum()) for lyr in self._layers)
            total = sum(self.masks[lyr.name].size for lyr in self._layers)
            self.log.append({"step": self.step, "target": target, "sparsity": zeros / total})

    return UpdatePruningMasks


__getattr__ = lazy_classes(__name__, UpdatePruningMasks=_make_callback_class)


def strip(model, masks=None):
    """A plain copy of ``model``: same architecture, weights with ``masks`` applied, no
    optimizer state (Adam's two dense slots per weight would undo the savings on disk).

    ``masks``: ``UpdatePruningMasks.masks`` (or None to copy the weights as they are).
    """
    import keras

    if not (hasattr(model, "get_config") and hasattr(model, "get_weights")):
        raise TypeError(f"strip takes a Keras model; got {type(model).__name__}")
    try:  # from the config, not clone_model: a clone would be compiled like the original
        clean = type(model).from_config(model.get_config())
    except Exception as err:
        raise ValueError(
            f"cannot rebuild {model.name!r} from its config ({type(err).__name__}): strip() "
            "needs a Sequential or functional model; otherwise build a fresh one and set_weights"
        ) from None
    clean.set_weights(model.get_weights())
    masks = masks or {}
    layers = {lyr.name: lyr for lyr in _all_layers(clean)}
    unknown = sorted(set(masks) - set(layers))
    if unknown:
        raise ValueError(f"masks for layers {unknown} that {model.name!r} does not have")
    for name, mask in masks.items():
        kernel = layers[name].kernel
        if tuple(kernel.shape) != np.shape(mask):
            raise ValueError(f"mask for {name!r} has shape {np.shape(mask)}, kernel {kernel.shape}")
        kernel.assign(keras.ops.convert_to_numpy(kernel) * mask)
    return clean


def sparsity_report(model, layers=None):
    """Per prunable layer: kernel shape, weights, zeros and sparsity, as a DataFrame."""
    import keras
    import pandas as pd

    rows = []
    for layer in prunable_layers(model, layers):
        kernel = keras.ops.convert_to_numpy(layer.kernel)
        zeros = int((kernel == 0).sum())
        rows.append({"layer": layer.name, "type": type(layer).__name__,
                     "kernel_shape": tuple(kernel.shape), "weights": kernel.size,
                     "zeros": zeros, "sparsity": zeros / kernel.size})
    return pd.DataFrame(rows)


def gzip_size(model_or_path, *, level: int = 9) -> int:
    """Bytes after gzip: of a file, or of a model saved as ``.keras`` in a temp dir.

    A model is saved through ``strip`` (no optimizer state), so a baseline and a pruned
    model are compared like with like. A ``.keras`` file is an uncompressed zip, so gzip
    sees the raw float32 weights: long runs of zeros compress, random floats hardly do.
    """
    level = checks.integer("level", level, minimum=0, maximum=9, example=9)
    if isinstance(model_or_path, (str, os.PathLike)):
        if not os.path.isfile(model_or_path):
            raise ValueError(f"no such file: {os.fspath(model_or_path)!r}; save the model first")
        with open(model_or_path, "rb") as f:
            return len(gzip.compress(f.read(), compresslevel=level, mtime=0))
    if not hasattr(model_or_path, "save"):
        raise TypeError(
            f"gzip_size takes a Keras model or a file path; got {type(model_or_path).__name__}"
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        strip(model_or_path).save(path)
        return gzip_size(path, level=level)
