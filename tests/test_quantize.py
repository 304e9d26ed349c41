"""hpclab.quantize: conversion modes, bad inputs, and int8 I/O handled correctly."""

import numpy as np
import pytest
from helpers import run_python

from hpclab import quantize


@pytest.fixture(scope="module")
def digits():
    from hpclab import data

    return data.load_digits()


@pytest.fixture(scope="module")
def trained(digits):
    """The course's small CNN after two quick epochs (a few seconds)."""
    import keras

    from hpclab import models

    (x_train, y_train), _ = digits
    keras.utils.set_random_seed(0)
    model = models.small_cnn(seed=0)
    model.compile(
        optimizer=keras.optimizers.Adam(2e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x_train, y_train, batch_size=32, epochs=2, verbose=0)
    return model


@pytest.fixture(scope="module")
def flatbuffers(trained, digits):
    (x_train, _), _ = digits
    return {
        "float32": quantize.convert(trained, "float32"),
        "int8": quantize.convert(trained, "int8", representative_data=x_train[:100]),
    }


@pytest.mark.parametrize("mode", ["int4", "INT8", "", None])
def test_unknown_mode_names_the_choices(mode):
    error = TypeError if mode is None else ValueError  # a wrong type, or a wrong value
    with pytest.raises(error, match=r"mode must be one of .*float32.*int8"):
        quantize.converter_settings(mode)


@pytest.mark.parametrize("empty", [np.zeros((0, 8, 8, 1), np.float32), [], np.float32(1.0)])
def test_empty_representative_array_is_a_clear_error(empty):
    with pytest.raises(ValueError, match="representative dataset is empty.*x_train"):
        quantize.converter_settings("int8", empty)


def test_empty_representative_generator_is_a_clear_error():
    def nothing():
        return iter(())

    with pytest.raises(ValueError, match="representative dataset is empty.*yielded nothing"):
        quantize.converter_settings("int8", nothing)


def test_int8_needs_data_and_other_modes_refuse_it():
    with pytest.raises(ValueError, match="mode='int8' needs representative_data"):
        quantize.converter_settings("int8")
    with pytest.raises(ValueError, match="only used by mode='int8'"):
        quantize.converter_settings("dynamic", np.zeros((4, 8, 8, 1), np.float32))


def test_representative_dataset_yields_float32_batches_of_one():
    x = np.arange(5 * 4, dtype=np.float64).reshape(5, 4)
    items = list(quantize.representative_dataset(x, num_samples=3)())
    assert len(items) == 3
    assert all(isinstance(i, list) and len(i) == 1 for i in items)
    assert items[0][0].shape == (1, 4) and items[0][0].dtype == np.float32
    assert len(list(quantize.representative_dataset(x)())) == 5  # all by default
    with pytest.raises(ValueError, match="num_samples must be an integer >= 1"):
        quantize.representative_dataset(x, num_samples=0)


def test_settings_per_mode():
    import tensorflow as tf

    assert quantize.converter_settings("float32") == {}
    assert quantize.converter_settings("dynamic") == {"optimizations": [tf.lite.Optimize.DEFAULT]}
    fp16 = quantize.converter_settings("float16")
    assert fp16["target_spec"] == {"supported_types": [tf.float16]}
    int8 = quantize.converter_settings("int8", np.ones((3, 8, 8, 1), np.float32))
    assert int8["inference_input_type"] == tf.int8 and int8["inference_output_type"] == tf.int8
    assert int8["target_spec"]["supported_ops"] == [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    assert len(list(int8["representative_dataset"]())) == 3


def test_quantize_and_dequantize_round_trip():
    detail = {"dtype": np.int8, "quantization": (1 / 255, -128)}
    x = np.array([0.0, 0.25, 1.0, 2.0, -1.0], np.float32)
    q = quantize.quantize_input(x, detail)
    assert q.dtype == np.int8
    assert q.tolist() == [-128, -64, 127, 127, -128]  # clipped to the int8 range
    back = quantize.dequantize_output(q, detail)
    assert np.allclose(back[:3], x[:3], atol=0.5 / 255 + 1e-6)
    float_detail = {"dtype": np.float32, "quantization": (0.0, 0)}
    assert quantize.quantize_input(x, float_detail).dtype == np.float32
    with pytest.raises(ValueError, match="no quantization scale"):
        quantize.quantize_input(x, {"dtype": np.int8, "quantization": (0.0, 0)})


def test_evaluate_float_and_int8(trained, flatbuffers, digits):
    _, (x_test, y_test) = digits
    keras_accuracy = trained.evaluate(x_test, y_test, verbose=0)[1]
    f32 = quantize.evaluate_tflite(flatbuffers["float32"], x_test, y_test)
    i8 = quantize.evaluate_tflite(flatbuffers["int8"], x_test, y_test)
    assert (f32["input_dtype"], f32["output_dtype"]) == ("float32", "float32")
    assert (i8["input_dtype"], i8["output_dtype"]) == ("int8", "int8")
    assert f32["n"] == i8["n"] == len(y_test)
    assert abs(f32["accuracy"] - keras_accuracy) <= 0.005
    assert keras_accuracy > 0.8  # two epochs are enough for a sane model
    assert abs(i8["accuracy"] - f32["accuracy"]) <= 0.03
    # int8 outputs are dequantized: logits close to the float model's, not raw integers
    logits = quantize.predict_tflite(flatbuffers["int8"], x_test[:32])
    reference = trained.predict(x_test[:32], verbose=0)
    assert logits.dtype == np.float32
    assert np.abs(logits - reference).max() < 0.1 * np.abs(reference).max()


def test_int8_file_is_smaller_and_tensors_about_4x(flatbuffers):
    f32 = quantize.size_breakdown(flatbuffers["float32"])
    i8 = quantize.size_breakdown(flatbuffers["int8"])
    assert f32["file_bytes"] == len(flatbuffers["float32"])
    assert f32["tensor_data_bytes"] + f32["overhead_bytes"] == f32["file_bytes"]
    assert 3.5 <= f32["tensor_data_bytes"] / i8["tensor_data_bytes"] <= 4.1
    assert i8["file_bytes"] < f32["file_bytes"] / 3


def test_latency_one_example_or_batch(flatbuffers, digits):
    _, (x_test, _) = digits
    one = quantize.latency(flatbuffers["int8"], x_test[0], repeats=3, warmup=1)
    assert one["batch_size"] == 1 and one["min_ms"] <= one["median_ms"] <= one["max_ms"]
    batch = quantize.latency(flatbuffers["float32"], x_test[:8], repeats=3, warmup=0)
    assert batch["batch_size"] == 8
    assert batch["per_example_ms"] == pytest.approx(batch["median_ms"] / 8)
    with pytest.raises(ValueError, match=r"x must be one example shaped \(8, 8, 1\)"):
        quantize.latency(flatbuffers["float32"], np.zeros((64,), np.float32))


def test_bad_arguments_to_the_runners(flatbuffers, digits):
    _, (x_test, y_test) = digits
    with pytest.raises(ValueError, match="same length"):
        quantize.evaluate_tflite(flatbuffers["float32"], x_test[:5], y_test[:4])
    with pytest.raises(ValueError, match="non-empty bytes"):
        quantize.evaluate_tflite(b"", x_test, y_test)
    with pytest.raises(ValueError, match="num_threads must be an integer >= 1"):
        quantize.interpreter(flatbuffers["float32"], num_threads=0)
    with pytest.raises(ValueError, match="non-empty batch"):
        quantize.predict_tflite(flatbuffers["float32"], np.zeros((0, 8, 8, 1)))


@pytest.mark.parametrize("mode", ["float32", "int8"])
def test_the_savedmodel_route_gives_the_bytes_of_keras_litert_export(trained, digits, mode):
    """Keras before 3.13 (the newest on Python 3.10) has no format="litert": keras_export then
    converts a SavedModel itself. Where Keras has the format, both must give the same bytes."""
    (x_train, _), _ = digits
    settings = quantize.converter_settings(mode, x_train[:50] if mode == "int8" else None)
    by_hand = quantize.keras_export(trained, settings, litert=False)
    assert by_hand[4:8] == b"TFL3"
    if not quantize.keras_exports_litert():
        pytest.skip("this Keras has no LiteRT export to compare with")
    assert by_hand == quantize.keras_export(trained, settings, litert=True)


def test_keras_export_refuses_what_it_cannot_use(trained):
    with pytest.raises(TypeError, match="model must be a Keras 3 model"):
        quantize.keras_export(object(), {})
    for litert in (False, True):  # also before Keras sees them
        with pytest.raises(TypeError, match="settings must be a dict"):
            quantize.keras_export(trained, [("optimizations", [])], litert=litert)
    for bad in ({"optimisations": []}, {"target_spec": {"supported_type": []}}):
        with pytest.raises(ValueError, match="the converter has no setting"):
            quantize.keras_export(trained, bad, litert=False)


def test_keras2_models_convert_too():
    """A tf_keras model goes through from_keras_model; needs a fresh process (legacy Keras)."""
    result = run_python(
        """
        import os
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
        import numpy as np, tf_keras
        from hpclab import quantize
        model = tf_keras.Sequential([tf_keras.Input((4,)), tf_keras.layers.Dense(3)])
        x = np.random.default_rng(0).random((20, 4), dtype=np.float32)
        flat = quantize.convert(model, "int8", representative_data=x)
        out = quantize.predict_tflite(flat, x)
        err = np.abs(out - model.predict(x, verbose=0)).max()
        print(quantize.evaluate_tflite(flat, x, np.zeros(20))["input_dtype"], err < 0.05)
        """
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-2:] == ["int8", "True"]


def test_labels_as_a_column_count_and_one_hot_is_refused(flatbuffers, digits):
    """(n, 1) labels once broadcast to n x n (accuracy 0.1); one-hot gave 0.02."""
    _, (x_test, y_test) = digits
    flat = flatbuffers["float32"]
    expected = quantize.evaluate_tflite(flat, x_test, y_test)["accuracy"]
    assert expected > 0.8
    assert quantize.evaluate_tflite(flat, x_test, y_test.reshape(-1, 1))["accuracy"] == expected
    assert quantize.evaluate_tflite(flat, x_test, y_test.astype("float32"))["accuracy"] == expected
    with pytest.raises(ValueError, match=r"one-hot.*y\.argmax\(-1\)"):
        quantize.evaluate_tflite(flat, x_test, np.eye(10)[y_test])
    with pytest.raises(ValueError, match="class indices"):
        quantize.evaluate_tflite(flat, x_test, y_test + 0.5)


def test_non_finite_calibration_data_and_inputs_are_refused(trained, flatbuffers, digits):
    """NaN calibration once gave a float32-I/O model at 10% accuracy, without an error."""
    (x_train, _), (x_test, _) = digits
    bad = x_train[:20].copy()
    bad[3, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="representative_data has NaN or infinite values"):
        quantize.convert(trained, "int8", representative_data=bad)
    with pytest.raises(ValueError, match="representative_data has NaN or infinite values"):
        quantize.convert(trained, "int8", representative_data=lambda: iter([[bad[3:4]]]))
    inputs = x_test[:4].copy()
    inputs[1] = np.inf
    with pytest.raises(ValueError, match="x has NaN or infinite values"):
        quantize.predict_tflite(flatbuffers["int8"], inputs)
    with pytest.raises(ValueError, match="x has NaN or infinite values"):
        quantize.latency(flatbuffers["int8"], inputs)


def test_clear_errors_instead_of_deep_ones(trained, flatbuffers, digits):
    (x_train, _), (x_test, _) = digits
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        quantize.predict_tflite(flatbuffers["float32"], x_test[:4], batch_size=0)
    out = quantize.predict_tflite(flatbuffers["float32"], x_test[:5], batch_size=np.int64(2))
    assert out.shape == (5, 10)  # NumPy integers are integers
    with pytest.raises(TypeError, match="model must be a Keras model"):
        quantize.convert("not a model")
    with pytest.raises(ValueError, match=r"\(8, 8, 1\).*got inputs shaped \(64,\)"):
        quantize.convert(trained, "int8", representative_data=x_train[:20].reshape(20, 64))
    with pytest.raises(ValueError, match="a LiteRT flatbuffer, whose bytes 4-8 are b'TFL3'"):
        quantize.size_breakdown(b"garbage bytes, not a model")
    with pytest.raises(TypeError, match="tflite_bytes must be the bytes returned by convert"):
        quantize.size_breakdown("model.tflite")
