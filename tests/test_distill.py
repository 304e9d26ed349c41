"""hpclab.distill: the distillation loss against hand computations, its limits, bad inputs."""

import math

import numpy as np
import pytest

from hpclab import distill


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _kl_by_hand(t, s, T):
    p, q = _softmax(t / T), _softmax(s / T)
    return T**2 * np.mean(np.sum(p * np.log(p / q), axis=-1))


@pytest.mark.parametrize("temperature", [0, 0.0, -1.0, float("nan"), float("inf"), True, "4", None])
def test_temperature_must_be_positive(temperature):
    error = TypeError if isinstance(temperature, (bool, str, type(None))) else ValueError
    with pytest.raises(error, match=r"temperature must be a finite number > 0, e\.g\. temperature=4"):
        distill.check_hparams(temperature, 0.1)
    with pytest.raises(error, match="temperature must be"):
        distill.distillation_loss(np.zeros((1, 3)), np.zeros((1, 3)), temperature)


@pytest.mark.parametrize("alpha", [-0.1, 1.01, float("nan"), None, False])
def test_alpha_must_be_in_unit_interval(alpha):
    with pytest.raises((TypeError, ValueError), match=r"alpha must be a finite number >= 0 and <= 1"):
        distill.check_hparams(4.0, alpha)


def test_good_hparams_pass_through_as_floats():
    assert distill.check_hparams(4, 0) == (4.0, 0.0)
    assert distill.check_hparams(np.float32(0.5), 1) == (0.5, 1.0)


def test_distiller_rejects_bad_hparams():
    from hpclab import models

    student = models.mlp(hidden=(4,), seed=0)
    with pytest.raises(ValueError, match="temperature must be"):
        distill.Distiller(student, temperature=0.0)
    with pytest.raises(ValueError, match="alpha"):
        distill.Distiller(student, alpha=1.5)


def test_two_class_example_by_hand():
    # teacher (2, 0), student (0, 0), T = 2: softmax(1, 0) = (e/(e+1), 1/(e+1)) against (1/2, 1/2)
    p = math.e / (math.e + 1)
    expected = 4 * (p * math.log(2 * p) + (1 - p) * math.log(2 * (1 - p)))
    got = float(distill.distillation_loss([[2.0, 0.0]], [[0.0, 0.0]], 2.0))
    assert got == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("T", [0.5, 1.0, 3.0])
def test_soft_term_matches_numpy(T):
    rng = np.random.default_rng(0)
    t, s = rng.normal(size=(5, 4)) * 3, rng.normal(size=(5, 4))
    got = float(distill.distillation_loss(t.astype("float32"), s.astype("float32"), T))
    assert got == pytest.approx(_kl_by_hand(t, s, T), rel=1e-4)


def test_combined_loss_by_hand_with_unlabelled_rows():
    rng = np.random.default_rng(1)
    t, s = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    labels = np.array([2, -1, 0, -1])  # rows 1 and 3 have no label
    log_q = np.log(_softmax(s))
    hard = -(log_q[0, 2] + log_q[2, 0]) / 2  # mean over the labelled rows only
    expected = 0.3 * hard + 0.7 * _kl_by_hand(t, s, 2.0)
    got = float(distill.combined_loss(labels, t.astype("float32"), s.astype("float32"),
                                      temperature=2.0, alpha=0.3))
    assert got == pytest.approx(expected, rel=1e-5)


def test_alpha_one_is_plain_cross_entropy_and_alpha_zero_ignores_labels():
    import keras

    rng = np.random.default_rng(2)
    t, s = rng.normal(size=(6, 5)).astype("float32"), rng.normal(size=(6, 5)).astype("float32")
    y = np.array([0, 1, 2, 3, 4, 0])
    plain = float(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, s))
    assert float(distill.combined_loss(y, t, s, temperature=3.0, alpha=1.0)) == pytest.approx(plain, rel=1e-5)
    soft = float(distill.distillation_loss(t, s, 3.0))
    assert float(distill.combined_loss(None, t, s, temperature=3.0, alpha=0.0)) == pytest.approx(soft)


def test_no_labels_in_batch_gives_zero_hard_loss():
    s = np.random.default_rng(3).normal(size=(3, 4)).astype("float32")
    assert float(distill.hard_label_loss([-1, -1, -1], s)) == 0.0


def test_empty_batches_and_fractional_labels_are_refused():
    """An empty batch gave NaN; the label 0.9 was truncated to class 0."""
    empty = np.zeros((0, 3), "float32")
    with pytest.raises(ValueError, match="at least one example"):
        distill.distillation_loss(empty, empty)
    with pytest.raises(ValueError, match="at least one example"):
        distill.combined_loss(np.zeros(0, "int32"), empty, empty)
    s = np.zeros((2, 3), "float32")
    with pytest.raises(ValueError, match=r"labels must be integer class indices.*got \[0\.9"):
        distill.hard_label_loss([0.9, 1.0], s)
    assert float(distill.hard_label_loss(np.array([2.0, 1.0]), s)) == pytest.approx(np.log(3))


@pytest.mark.parametrize("T", [0.5, 1.0, 4.0, 20.0])
def test_zero_when_student_copies_teacher_even_shifted(T):
    t = np.random.default_rng(4).normal(size=(8, 10)).astype("float32") * 5
    assert abs(float(distill.distillation_loss(t, t, T))) < 1e-5
    # softmax ignores a constant added to every logit of a row: still a perfect copy
    shifted = t + np.arange(8, dtype="float32")[:, None]
    assert abs(float(distill.distillation_loss(t, shifted, T))) < 1e-5


def test_soft_term_is_positive_when_the_student_differs():
    rng = np.random.default_rng(5)
    t, s = rng.normal(size=(4, 6)).astype("float32"), rng.normal(size=(4, 6)).astype("float32")
    assert float(distill.distillation_loss(t, s, 2.0)) > 0


def test_high_temperature_limit_is_logit_matching():
    """T -> inf: T^2 KL -> sum of squared differences of the centred logits / (2 * classes)."""
    rng = np.random.default_rng(0)
    t, s = rng.normal(size=(4, 10)).astype("float32"), rng.normal(size=(4, 10)).astype("float32")
    centred = lambda z: z - z.mean(-1, keepdims=True)  # noqa: E731
    limit = np.mean(np.sum((centred(t) - centred(s)) ** 2, axis=-1)) / (2 * 10)
    assert float(distill.distillation_loss(t, s, 50.0)) == pytest.approx(limit, rel=2e-2)
    assert float(distill.distillation_loss(t, s, 1.0)) != pytest.approx(limit, rel=2e-2)


def test_gradient_of_soft_term_is_T_times_probability_difference():
    import tensorflow as tf

    rng = np.random.default_rng(6)
    t, s0 = rng.normal(size=(3, 4)).astype("float32"), rng.normal(size=(3, 4)).astype("float32")
    T = 4.0
    s = tf.Variable(s0)
    with tf.GradientTape() as tape:
        loss = distill.distillation_loss(t, s, T)
    expected = T * (_softmax(s0 / T) - _softmax(t / T)) / len(t)  # T^2 * (1/T) * (q - p), batch mean
    np.testing.assert_allclose(tape.gradient(loss, s).numpy(), expected, atol=1e-6)


def test_class_count_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="same number of classes"):
        distill.distillation_loss(np.zeros((2, 10)), np.zeros((2, 5)), 2.0)


def _tiny_problem():
    import keras

    from hpclab import models

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    keras.utils.set_random_seed(0)
    teacher = models.mlp(input_shape=(6,), hidden=(8,), num_classes=2, seed=1, name="teacher")
    student = models.mlp(input_shape=(6,), hidden=(), num_classes=2, seed=2, name="student")
    return keras, x, y, teacher, student


def test_distiller_fits_with_precomputed_teacher_logits_and_unlabelled_rows():
    keras, x, y, teacher, student = _tiny_problem()
    teacher_logits = teacher.predict(x, verbose=0)
    labels = np.where(np.arange(len(y)) < 16, y, -1).astype("int32")
    distiller = distill.Distiller(student, temperature=2.0, alpha=0.5)
    distiller.compile(optimizer=keras.optimizers.Adam(0.05))
    before = float(distill.combined_loss(labels, teacher_logits, student(x), temperature=2.0, alpha=0.5))
    history = distiller.fit(x, (labels, teacher_logits), batch_size=64, epochs=20, verbose=0)
    after = float(distill.combined_loss(labels, teacher_logits, student(x), temperature=2.0, alpha=0.5))
    assert after < 0.7 * before, (before, after)
    assert history.history["loss"][-1] < history.history["loss"][0]
    np.testing.assert_allclose(distiller.predict(x, verbose=0), student.predict(x, verbose=0), atol=1e-6)


def test_distiller_with_a_live_teacher_leaves_it_untouched():
    keras, x, y, teacher, student = _tiny_problem()
    frozen = [w.copy() for w in teacher.get_weights()]
    distiller = distill.Distiller(student, teacher, temperature=2.0, alpha=0.1)
    distiller.compile(optimizer=keras.optimizers.Adam(0.05))
    distiller.fit(x, y, batch_size=32, epochs=2, verbose=0)
    assert not teacher.trainable
    for before, after in zip(frozen, teacher.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)


def test_distiller_without_teacher_needs_teacher_logits():
    keras, x, y, _, student = _tiny_problem()
    distiller = distill.Distiller(student)
    distiller.compile(optimizer=keras.optimizers.Adam(0.05))
    with pytest.raises(ValueError, match=r"no teacher: pass precomputed teacher logits"):
        distiller.fit(x, y, batch_size=32, epochs=1, verbose=0)


def test_distiller_honours_sample_weight():
    """Rows of weight 0 have no influence on training; weights scale the loss like Keras's."""
    keras, x, y, teacher, _ = _tiny_problem()
    from hpclab import models

    t = teacher.predict(x, verbose=0)
    weight = (np.arange(len(x)) % 2).astype("float32")  # odd rows count, even rows do not
    scrambled_y, scrambled_t = y.copy(), t.copy()
    scrambled_y[::2], scrambled_t[::2] = 1 - y[::2], -5 * t[::2]
    trained = []
    for labels, logits in ((y, t), (scrambled_y, scrambled_t)):
        student = models.mlp(input_shape=(6,), hidden=(), num_classes=2, seed=2, name="student")
        distiller = distill.Distiller(student, temperature=2.0, alpha=0.5)
        distiller.compile(optimizer=keras.optimizers.SGD(0.5))
        distiller.fit(x, (labels, logits), sample_weight=weight, batch_size=64, epochs=3, verbose=0,
                      shuffle=False)
        trained.append(student.get_weights())
        doubled = distiller.compute_loss(x, (labels, logits), student(x), sample_weight=2 * weight)
        single = distiller.compute_loss(x, (labels, logits), student(x), sample_weight=weight)
        assert float(doubled) == pytest.approx(2 * float(single), rel=1e-6)
    for a, b in zip(*trained, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    unweighted = distiller.compute_loss(x, (scrambled_y, scrambled_t), student(x))
    assert float(unweighted) != pytest.approx(float(single), rel=1e-3)


def test_agreement_from_logits_and_models():
    t = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0], [0.0, 5.0]])
    s = np.array([[1.0, 0.0], [1.0, 0.0], [3.0, 1.0], [0.0, 5.0]])
    assert distill.agreement(t, s) == 0.75
    _, x, _, teacher, _ = _tiny_problem()
    assert distill.agreement(teacher, teacher, x) == 1.0


def test_agreement_bad_inputs():
    _, x, _, teacher, student = _tiny_problem()
    with pytest.raises(ValueError, match="needs inputs x"):
        distill.agreement(teacher, student)
    with pytest.raises(ValueError, match="different shapes"):
        distill.agreement(np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="at least one input"):
        distill.agreement(np.zeros((0, 2)), np.zeros((0, 2)))
    with pytest.raises(ValueError, match="at least one input"):
        distill.agreement(teacher, student, x[:0])
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        distill.agreement(teacher, student, x, batch_size=0)


def test_the_lazy_class_is_built_once_and_unknown_names_are_attribute_errors():
    assert distill.Distiller is distill.Distiller
    with pytest.raises(AttributeError, match="'hpclab.distill' has no attribute 'NoSuchThing'"):
        distill.NoSuchThing  # noqa: B018
