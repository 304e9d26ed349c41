"""Knowledge distillation: a small student learns from a big teacher's softened outputs.

Taught in notebooks/12_knowledge_distillation.ipynb (the loss, written out there, and when
distillation helps); reused in notebooks/13_optimization_summary.ipynb.

The loss for one batch, with teacher logits t, student logits s, temperature T and weight alpha:

    L = alpha * CE(y, softmax(s))  +  (1 - alpha) * T**2 * KL(softmax(t / T) || softmax(s / T))

Labels < 0 mark inputs without a label (a *transfer set*): they get only the soft term.
The T**2 factor keeps the soft term's gradients about the same size whatever T (Hinton et al. 2015).

TensorFlow is imported inside the functions (``Distiller`` is built on first access), so
``import hpclab.distill`` does not start the TF runtime.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = [  # noqa: F822 (Distiller is built on first access, see __getattr__)
    "check_hparams", "distillation_loss", "hard_label_loss", "combined_loss", "Distiller", "agreement",
]


def check_hparams(temperature, alpha) -> tuple[float, float]:
    """Validate and return ``(temperature, alpha)`` as floats; bad values raise ValueError."""
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) \
            or not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(
            f"temperature must be a finite number > 0, e.g. temperature=4.0 "
            f"(1 = plain softmax, larger = softer); got {temperature!r}"
        )
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) \
            or not np.isfinite(alpha) or not 0.0 <= alpha <= 1.0:
        raise ValueError(
            f"alpha (the weight of the hard-label loss) must be in [0, 1], e.g. alpha=0.1; "
            f"got {alpha!r}"
        )
    return float(temperature), float(alpha)


def distillation_loss(teacher_logits, student_logits, temperature: float = 4.0):
    """Soft term: ``T**2 * mean over the batch of KL(softmax(t/T) || softmax(s/T))``.

    Zero when the student's logits equal the teacher's (up to a constant per row).
    Returns a scalar tensor (differentiable with respect to ``student_logits``).
    """
    from keras import ops

    temperature, _ = check_hparams(temperature, 0.0)
    t = ops.convert_to_tensor(teacher_logits, "float32") / temperature
    s = ops.convert_to_tensor(student_logits, "float32") / temperature
    if None not in (t.shape[-1], s.shape[-1]) and t.shape[-1] != s.shape[-1]:
        raise ValueError(
            f"teacher and student must output the same number of classes; got "
            f"{t.shape[-1]} and {s.shape[-1]} logits per example"
        )
    p_teacher = ops.softmax(t, axis=-1)
    kl = ops.sum(p_teacher * (ops.log_softmax(t, axis=-1) - ops.log_softmax(s, axis=-1)), axis=-1)
    return temperature**2 * ops.mean(kl)


def hard_label_loss(labels, student_logits):
    """Cross-entropy over the labelled rows only (labels >= 0); 0 if the batch has none."""
    from keras import ops

    labels = ops.convert_to_tensor(labels, "int32")
    labels = ops.reshape(labels, (-1,))
    mask = ops.cast(labels >= 0, "float32")
    safe = ops.where(labels >= 0, labels, ops.zeros_like(labels))
    log_p = ops.log_softmax(ops.convert_to_tensor(student_logits, "float32"), axis=-1)
    nll = -ops.take_along_axis(log_p, ops.expand_dims(safe, -1), axis=-1)[:, 0]
    return ops.sum(nll * mask) / ops.maximum(ops.sum(mask), 1.0)


def combined_loss(labels, teacher_logits, student_logits, *, temperature: float = 4.0,
                  alpha: float = 0.1):
    """``alpha * hard_label_loss + (1 - alpha) * distillation_loss`` (see the module docstring)."""
    temperature, alpha = check_hparams(temperature, alpha)
    soft = distillation_loss(teacher_logits, student_logits, temperature)
    if alpha == 0.0:
        return soft
    return alpha * hard_label_loss(labels, student_logits) + (1.0 - alpha) * soft


def _build_distiller():
    import keras

    class Distiller(keras.Model):
        """Train ``student`` with :func:`combined_loss`; ``predict`` gives the student's logits.

        ``fit(x, y)``                  the teacher is run on every batch (frozen, inference mode):
                                       use it when inputs change every epoch (augmentation).
        ``fit(x, (y, teacher_logits))`` precomputed teacher logits ("offline" distillation):
                                       much cheaper when the inputs are fixed.
        A teacher passed here is frozen (``teacher.trainable = False``).
        Labels < 0 mark unlabelled inputs (soft term only); ``alpha=1`` is plain cross-entropy
        (a from-scratch baseline trained by the same loop). Compile with an optimizer only.
        Taught in notebooks/12_knowledge_distillation.ipynb.
        """

        def __init__(self, student, teacher=None, *, temperature=4.0, alpha=0.1, **kwargs):
            super().__init__(**kwargs)
            self.temperature, self.alpha = check_hparams(temperature, alpha)
            self.student = student
            self.teacher = teacher
            if teacher is not None:
                teacher.trainable = False

        def call(self, x, training=False):
            return self.student(x, training=training)

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            if isinstance(y, (tuple, list)):
                labels, teacher_logits = y
            elif self.teacher is None:
                raise ValueError(
                    "this Distiller has no teacher: pass precomputed teacher logits as "
                    "fit(x, (labels, teacher_logits)), or build it with Distiller(student, teacher)"
                )
            else:
                labels, teacher_logits = y, self.teacher(x, training=False)
            loss = combined_loss(labels, teacher_logits, y_pred,
                                 temperature=self.temperature, alpha=self.alpha)
            for extra in self.losses:  # e.g. kernel regularizers of the student
                loss = loss + extra
            return loss

    return Distiller


_cache: dict = {}


def __getattr__(name):  # PEP 562: build the keras.Model subclass only when first used
    if name == "Distiller":
        if "Distiller" not in _cache:
            _cache["Distiller"] = _build_distiller()
        return _cache["Distiller"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _logits(model_or_logits, x, batch_size):
    if isinstance(model_or_logits, np.ndarray):
        return model_or_logits
    return np.asarray(model_or_logits.predict(x, batch_size=batch_size, verbose=0))


def agreement(teacher, student, x=None, *, batch_size: int = 512) -> float:
    """Fraction of inputs on which teacher and student predict the same class (top-1).

    ``teacher`` and ``student`` are Keras models (then ``x`` is required) or logits arrays.
    """
    if x is None and not (isinstance(teacher, np.ndarray) and isinstance(student, np.ndarray)):
        raise ValueError("agreement needs inputs x when given models, e.g. agreement(t, s, x_test)")
    t = _logits(teacher, x, batch_size).argmax(-1)
    s = _logits(student, x, batch_size).argmax(-1)
    if t.shape != s.shape:
        raise ValueError(f"teacher and student gave different shapes: {t.shape} vs {s.shape}")
    if t.size == 0:
        raise ValueError("agreement needs at least one input; got an empty x")
    return float(np.mean(t == s))
