import numpy as np
import pytest

from hpclab import prune


# --- the schedule ------------------------------------------------------------------------


def test_schedule_follows_the_polynomial_and_reaches_the_target():
    s = prune.PolynomialDecay(0.1, 0.9, begin_step=10, end_step=50, power=3, frequency=10)
    assert s.sparsity(0) == pytest.approx(0.1) and s.sparsity(10) == pytest.approx(0.1)
    assert s.sparsity(30) == pytest.approx(0.9 + (0.1 - 0.9) * 0.5**3)
    assert s.sparsity(50) == pytest.approx(0.9) and s.sparsity(500) == pytest.approx(0.9)
    values = [s.sparsity(t) for t in range(0, 60)]
    assert values == sorted(values)  # never decreases
    assert s.update_steps(100) == [10, 20, 30, 40, 50]
    assert s(20) == (True, pytest.approx(s.sparsity(20))) and s(21)[0] is False


def test_the_last_update_lands_on_end_step():
    """TF-MOT would stop at step 20 and end short of the target; here step 22 updates too."""
    s = prune.PolynomialDecay(0.0, 0.8, end_step=22, frequency=5)
    assert s.update_steps(40) == [5, 10, 15, 20, 22]
    assert s.sparsity(s.update_steps(40)[-1]) == pytest.approx(0.8)


@pytest.mark.parametrize("bad", [1.0, 1.2, -0.1, "0.5", None, True])
def test_sparsity_outside_0_1_is_rejected(bad):
    error = ValueError if isinstance(bad, float) else TypeError
    with pytest.raises(error, match=r"final_sparsity must be a finite number >= 0 and < 1"):
        prune.PolynomialDecay(0.0, bad, end_step=10, frequency=1)
    with pytest.raises(error, match=r"initial_sparsity must be a finite number >= 0 and < 1"):
        prune.PolynomialDecay(bad, 0.5, end_step=10, frequency=1)
    with pytest.raises(error, match=r"sparsity must be a finite number >= 0 and < 1"):
        prune.magnitude_mask(np.ones(4), bad)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(begin_step=-1, end_step=10), "begin_step must be an integer >= 0"),
        (dict(begin_step=10, end_step=10), "end_step must be > begin_step"),
        (dict(begin_step=0, end_step=0), "end_step must be an integer >= 1"),
        (dict(end_step=10, frequency=0), "frequency must be an integer >= 1"),
        (dict(end_step=22, frequency=100), r"frequency=100 is longer than the pruning window"),
        (dict(end_step=10, power=0), "power must be a finite number > 0"),
        (dict(end_step=10, power=float("nan")), "power must be a finite number > 0"),
    ],
)
def test_invalid_steps_and_frequency_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        prune.PolynomialDecay(0.0, 0.8, **kwargs)


def test_wrong_types_are_type_errors_and_numpy_integers_pass():
    with pytest.raises(TypeError, match="end_step must be an integer"):
        prune.PolynomialDecay(0.0, 0.8, end_step=10.5)
    with pytest.raises(TypeError, match="power must be a finite number > 0"):
        prune.PolynomialDecay(0.0, 0.8, end_step=10, power="3")
    s = prune.PolynomialDecay(np.float32(0.0), 0.8, end_step=np.int64(10), frequency=np.int32(5))
    assert s.update_steps(20) == [5, 10] and type(s.end_step) is int


def test_magnitude_mask_keeps_the_largest_weights():
    w = np.array([[0.1, -5.0], [0.3, 2.0], [-0.2, 0.05]], dtype=np.float32)
    mask = prune.magnitude_mask(w, 0.5)
    assert mask.shape == w.shape and mask.dtype == np.float32
    np.testing.assert_array_equal(mask, [[0, 1], [1, 1], [0, 0]])
    assert prune.magnitude_mask(w, 0.0).sum() == 6
    assert prune.magnitude_mask(w, 0.99).sum() == 1  # at least one weight survives


# --- the callback ------------------------------------------------------------------------


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int32")
    return x, y


def _mlp(seed=0):
    import keras

    from hpclab import models

    keras.utils.set_random_seed(seed)
    model = models.mlp(input_shape=(8,), hidden=(32, 16), num_classes=2, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def test_model_without_prunable_layers_is_rejected():
    import keras

    model = keras.Sequential([keras.Input((8,)), keras.layers.Activation("relu")], name="act")
    with pytest.raises(ValueError, match="has no prunable layers"):
        prune.prunable_layers(model)
    with pytest.raises(ValueError, match="has no prunable layers"):
        prune.sparsity_report(model)
    model.compile(optimizer="sgd", loss="mse")
    callback = prune.UpdatePruningMasks(prune.PolynomialDecay(0.0, 0.5, end_step=4, frequency=1))
    x, _ = _data()
    with pytest.raises(ValueError, match="has no prunable layers"):
        model.fit(x, x, epochs=1, verbose=0, callbacks=[callback])


def test_unknown_layer_names_and_bad_schedule_are_rejected():
    model = _mlp()
    with pytest.raises(ValueError, match=r"\['nope'\] are not prunable layers"):
        prune.prunable_layers(model, ["nope"])
    with pytest.raises(TypeError, match="schedule must be a hpclab.prune.PolynomialDecay"):
        prune.UpdatePruningMasks(0.8)


def test_callback_reaches_the_target_and_masks_stay_applied():
    x, y = _data()
    model = _mlp()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)  # a train step traced without masks
    schedule = prune.PolynomialDecay(0.0, 0.75, end_step=9, frequency=2)  # 3 steps per epoch
    callback = prune.UpdatePruningMasks(schedule)
    model.fit(x, y, batch_size=32, epochs=3, verbose=0, callbacks=[callback])

    assert callback.step == 9 and [e["step"] for e in callback.log] == [2, 4, 6, 8, 9]
    assert callback.log[-1]["target"] == pytest.approx(0.75)
    report = prune.sparsity_report(model)
    assert len(report) == 3 and report.sparsity.min() >= 0.74, report
    zeros_before = {lyr.name: lyr.kernel.numpy() == 0 for lyr in model.layers}

    # More optimizer steps, past end_step, with and without the callback: still zero.
    model.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[callback])
    model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    model.train_on_batch(x[:32], y[:32])
    for layer in model.layers:
        kernel = layer.kernel.numpy()
        assert np.all(kernel[zeros_before[layer.name]] == 0), layer.name
        assert np.any(kernel[~zeros_before[layer.name]] != 0)  # the survivors still train
    assert len(callback.log) == 5  # no mask update after end_step


def test_only_the_chosen_layers_are_pruned_and_reset_starts_again():
    x, y = _data()
    model = _mlp()
    first = model.layers[0]
    callback = prune.UpdatePruningMasks(
        prune.PolynomialDecay(0.0, 0.5, end_step=3, frequency=1), layers=[first.name])
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[callback])
    report = prune.sparsity_report(model).set_index("layer").sparsity
    assert report[first.name] == pytest.approx(0.5) and report.drop(first.name).max() == 0.0
    assert list(callback.masks) == [first.name]

    callback.reset(prune.PolynomialDecay(0.0, 0.9, end_step=3, frequency=1))
    assert callback.step == 0 and callback.log == [] and callback.masks[first.name].min() == 1
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[callback])
    assert prune.sparsity_report(model).set_index("layer").sparsity[first.name] == pytest.approx(
        0.9, abs=1 / first.kernel.numpy().size)
    with pytest.raises(TypeError, match="schedule must be"):
        callback.reset("0.9")


@pytest.mark.parametrize("n, updates", [(96, [3, 6, 9]), (100, [3, 4, 7, 8, 11])])
def test_the_schedule_counts_optimizer_steps_with_steps_per_execution(n, updates):
    """steps_per_execution=3 calls the callback once per execution (lesson 07): 3 steps, or
    with n=100 (4 batches per epoch) 3 then 1. Masks update at the end of each execution
    that contains a scheduled step (2, 4, 6, 8, 9)."""
    import keras

    x, y = _data(n=n)
    model = _mlp()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), steps_per_execution=3,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    steps = 3 * -(-n // 32)  # three epochs
    callback = prune.UpdatePruningMasks(prune.PolynomialDecay(0.0, 0.75, end_step=9, frequency=2))
    model.fit(x, y, batch_size=32, epochs=3, verbose=0, callbacks=[callback])
    assert callback.step == steps == int(model.optimizer.iterations)
    assert callback.log[-1]["target"] == pytest.approx(0.75)
    assert [e["step"] for e in callback.log] == updates
    assert prune.sparsity_report(model).sparsity.min() >= 0.74


# --- strip, report, size -----------------------------------------------------------------


def test_strip_gives_a_plain_copy_with_masks_applied():
    x, y = _data()
    model = _mlp()
    callback = prune.UpdatePruningMasks(prune.PolynomialDecay(0.0, 0.8, end_step=3, frequency=1))
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[callback])
    clean = prune.strip(model, callback.masks)
    assert clean is not model and not clean.compiled and getattr(clean, "optimizer", None) is None
    assert [lyr.name for lyr in clean.layers] == [lyr.name for lyr in model.layers]
    assert all(lyr.kernel.constraint is None for lyr in clean.layers)
    np.testing.assert_allclose(clean.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    report = prune.sparsity_report(clean)
    assert list(report.columns) == ["layer", "type", "kernel_shape", "weights", "zeros", "sparsity"]
    assert report.sparsity.min() >= 0.79

    dense = _mlp()
    zeroed = prune.strip(dense, {dense.layers[0].name: np.zeros(dense.layers[0].kernel.shape)})
    assert prune.sparsity_report(zeroed).sparsity.iloc[0] == 1.0
    with pytest.raises(ValueError, match="does not have"):
        prune.strip(dense, {"nope": np.zeros(3)})
    with pytest.raises(ValueError, match="has shape"):
        prune.strip(dense, {dense.layers[0].name: np.zeros(3)})
    with pytest.raises(TypeError, match="strip takes a Keras model; got str"):
        prune.strip("x")


def test_gzip_size_shrinks_with_sparsity(tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    from hpclab import models

    dense = models.mlp(input_shape=(64,), hidden=(128,), seed=0)
    masks = {lyr.name: prune.magnitude_mask(lyr.kernel.numpy(), 0.9) for lyr in dense.layers}
    sparse = prune.strip(dense, masks)
    assert prune.gzip_size(dense) > 3 * prune.gzip_size(sparse)

    path = tmp_path / "m.keras"
    sparse.save(path)
    assert prune.gzip_size(path) == prune.gzip_size(str(path)) < path.stat().st_size
    with pytest.raises(ValueError, match="no such file"):
        prune.gzip_size(tmp_path / "missing.keras")
    with pytest.raises(TypeError, match="takes a Keras model or a file path"):
        prune.gzip_size(42)
    with pytest.raises(ValueError, match="level must be an integer >= 0 and <= 9"):
        prune.gzip_size(path, level=10)
