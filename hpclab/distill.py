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

import numpy as np

from hpclab import checks, lazy_classes

__all__ = [  # noqa: F822 (Distiller is built on first access, see __getattr__)
    "check_hparams", "distillation_loss", "hard_label_loss", "combined_loss", "Distiller", "agreement",
]


def check_hparams(temperature, alpha) -> tuple[float, float]:
    """Validate ``temperature`` (> 0; 1 = plain softmax, larger = softer) and ``alpha`` (the
    weight of the hard-label loss, in [0, 1]); return them as floats."""
    return (checks.number("temperature", temperature, low=0, low_open=True, example=4.0),
            checks.number("alpha", alpha, low=0, high=1, example=0.1))


def _weighted_mean(values, sample_weight):
    """mean(values * sample_weight) over the batch: Keras's default loss reduction."""
    from keras import ops

    if sample_weight is not None:
        values = values * ops.reshape(ops.convert_to_tensor(sample_weight, "float32"), (-1,))
    return ops.mean(values)


def distillation_loss(teacher_logits, student_logits, temperature: float = 4.0, *,
                      sample_weight=None):
    """Soft term: ``T**2 * mean over the batch of KL(softmax(t/T) || softmax(s/T))``.

    Zero when the student's logits equal the teacher's (up to a constant per row).
    Returns a scalar tensor (differentiable with respect to ``student_logits``).
    """
    from keras import ops

    temperature, _ = check_hparams(temperature, 0.0)
    t = ops.convert_to_tensor(teacher_logits, "float32") / temperature
    s = ops.convert_to_tensor(student_logits, "float32") / temperature
    if 0 in (t.shape[0], s.shape[0]):  # the mean of nothing is NaN
        raise ValueError("distillation needs at least one example; got an empty batch")
    if None not in (t.shape[-1], s.shape[-1]) and t.shape[-1] != s.shape[-1]:
        raise ValueError(
            f"teacher and student must output the same number of classes; got "
            f"{t.shape[-1]} and {s.shape[-1]} logits per example"
        )
    p_teacher = ops.softmax(t, axis=-1)
    kl = ops.sum(p_teacher * (ops.log_softmax(t, axis=-1) - ops.log_softmax(s, axis=-1)), axis=-1)
    return temperature**2 * _weighted_mean(kl, sample_weight)


def hard_label_loss(labels, student_logits, *, sample_weight=None):
    """Cross-entropy over the labelled rows only (labels >= 0); 0 if the batch has none."""
    from keras import ops

    if isinstance(labels, (list, tuple, np.ndarray)) and not np.all(np.round(labels) == labels):
        raise ValueError(f"labels must be integer class indices (-1: no label); got "
                         f"{np.ravel(labels)[:5]}: pass y, not probabilities")
    labels = ops.reshape(ops.convert_to_tensor(labels, "int32"), (-1,))
    mask = ops.cast(labels >= 0, "float32")
    safe = ops.where(labels >= 0, labels, ops.zeros_like(labels))
    log_p = ops.log_softmax(ops.convert_to_tensor(student_logits, "float32"), axis=-1)
    nll = -ops.take_along_axis(log_p, ops.expand_dims(safe, -1), axis=-1)[:, 0]
    weight = mask if sample_weight is None else mask * ops.reshape(
        ops.convert_to_tensor(sample_weight, "float32"), (-1,))
    return ops.sum(nll * weight) / ops.maximum(ops.sum(mask), 1.0)


def combined_loss(labels, teacher_logits, student_logits, *, temperature: float = 4.0,
                  alpha: float = 0.1, sample_weight=None):
    """``alpha * hard_label_loss + (1 - alpha) * distillation_loss`` (see the module docstring).

    ``sample_weight`` (one per row) scales each row's loss, as in Keras's own losses.
    """
    temperature, alpha = check_hparams(temperature, alpha)
    soft = distillation_loss(teacher_logits, student_logits, temperature, sample_weight=sample_weight)
    if alpha == 0.0:
        return soft
    hard = hard_label_loss(labels, student_logits, sample_weight=sample_weight)
    return alpha * hard + (1.0 - alpha) * soft


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
        (a from-scratch baseline trained by the same loop). ``fit(..., sample_weight=w)``
        scales each row's loss. Compile with an optimizer only.
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
            if isinstance(sample_weight, (tuple, list)):  # Keras repeats it for (labels, logits)
                sample_weight = sample_weight[0]
            loss = combined_loss(labels, teacher_logits, y_pred, temperature=self.temperature,
                                 alpha=self.alpha, sample_weight=sample_weight)
            for extra in self.losses:  # e.g. kernel regularizers of the student
                loss = loss + extra
            return loss

    return Distiller


__getattr__ = lazy_classes(__name__, Distiller=_build_distiller)


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
    checks.integer("batch_size", batch_size, example=512)
    if x is not None and len(x) == 0:
        raise ValueError("agreement needs at least one input; got an empty x")
    t = _logits(teacher, x, batch_size).argmax(-1)
    s = _logits(student, x, batch_size).argmax(-1)
    if t.shape != s.shape:
        raise ValueError(f"teacher and student gave different shapes: {t.shape} vs {s.shape}")
    if t.size == 0:
        raise ValueError("agreement needs at least one input; got an empty x")
    return float(np.mean(t == s))
