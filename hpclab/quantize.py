"""Post-training quantization to LiteRT (TFLite) flatbuffers, and running the result.

Taught in notebooks/10_quantization.ipynb: the converter settings of each mode, the
representative dataset, and the scale/zero-point arithmetic of int8 inputs and outputs.
notebooks/11 (quantization-aware training) and 13 (summary) reuse these helpers.

A converted model is plain ``bytes``: :func:`convert` returns them; :func:`evaluate_tflite`,
:func:`predict_tflite`, :func:`latency` and :func:`size_breakdown` take them. TensorFlow and
LiteRT are imported inside the functions, never at module import.
"""

from __future__ import annotations

import logging
import os
import tempfile

import numpy as np

from hpclab import checks

MODES = ("float32", "dynamic", "float16", "int8")


def representative_dataset(x, *, num_samples: int | None = None):
    """A generator function for ``converter.representative_dataset``.

    It yields the first ``num_samples`` inputs of ``x`` (all of them by default). Each
    item is a list with one float32 array per model input, each with its batch axis of
    size 1: ``[x[i:i+1]]``. The converter runs these through the float model to record
    the range of every activation (calibration); 100-500 training inputs are typical.
    """
    if num_samples is not None:
        checks.integer("num_samples", num_samples, example=100)
    x = _inputs("representative_data", x, "the representative dataset is empty: pass a few "
                "hundred real training inputs with a batch axis first, e.g. x_train[:200]")
    n = len(x) if num_samples is None else min(num_samples, len(x))

    def gen():
        for i in range(n):
            yield [x[i : i + 1]]

    return gen


def converter_settings(mode: str, representative_data=None, *,
                       num_samples: int | None = None) -> dict:
    """The converter attributes that define each mode, as a dict.

    The dict works with ``keras.Model.export(path, format="litert", **settings)`` and
    with :func:`apply_settings` on a ``tf.lite.TFLiteConverter``. ``representative_data``
    (an array of inputs, or a generator function as the converter expects) is required
    by ``"int8"`` and refused by the other modes.
    """
    checks.one_of("mode", mode, MODES)
    if mode != "int8" and representative_data is not None:
        raise ValueError(
            f"representative_data is only used by mode='int8' (full-integer); "
            f"drop it for mode={mode!r}"
        )
    if mode == "float32":
        return {}
    generator = _as_generator(representative_data, num_samples) if mode == "int8" else None
    import tensorflow as tf

    settings = {"optimizations": [tf.lite.Optimize.DEFAULT]}
    if mode == "float16":
        settings["target_spec"] = {"supported_types": [tf.float16]}
    elif mode == "int8":
        settings.update(
            representative_dataset=generator,
            target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]},
            inference_input_type=tf.int8,
            inference_output_type=tf.int8,
        )
    return settings


def _check_settings(settings) -> dict:
    if not isinstance(settings, dict):
        raise TypeError(f"settings must be a dict, e.g. converter_settings('dynamic'); got {settings!r}")
    return settings


def _is_keras3(model) -> bool:
    return type(model).__module__.split(".")[0] == "keras"


def apply_settings(converter, settings: dict):
    """Set ``settings`` (from :func:`converter_settings`) on a TFLiteConverter; returns it.
    A name the converter does not have is refused, as Keras's LiteRT export refuses it."""
    for name, value in _check_settings(settings).items():
        if name == "target_spec" and isinstance(value, dict):
            pairs = [(converter.target_spec, key, item) for key, item in value.items()]
        else:
            pairs = [(converter, name, value)]
        for target, key, item in pairs:
            if not hasattr(target, key):
                raise ValueError(f"the converter has no setting {key!r}; use the names "
                                 "that converter_settings(mode, ...) returns")
            setattr(target, key, item)
    return converter


def convert(model, mode: str = "float32", representative_data=None, *,
            num_samples: int | None = None) -> bytes:
    """Convert a Keras model to a LiteRT flatbuffer in one of :data:`MODES`.

    float32  no optimization (the reference).
    dynamic  int8 weights, float activations quantized on the fly (no data needed).
    float16  float16 weights (half the size; GPUs compute in float16 directly).
    int8     full-integer: int8 weights and activations, int8 input and output,
             calibrated on ``representative_data`` (e.g. ``x_train[:200]``).

    Keras 3 models go through ``model.export(format="litert")`` (see :func:`keras_export`);
    Keras 2 (tf_keras) models through ``tf.lite.TFLiteConverter.from_keras_model``.
    """
    if not (callable(getattr(model, "predict", None)) and hasattr(model, "get_weights")):
        raise TypeError(f"model must be a Keras model (keras or tf_keras); got {type(model).__name__}")
    settings = converter_settings(mode, representative_data, num_samples=num_samples)
    if mode == "int8":  # a calibration sample of the wrong shape fails deep in the converter
        sample = np.shape(next(iter(settings["representative_dataset"]()))[0])[1:]
        expected = getattr(model, "input_shape", None)  # a list for several inputs: not checked
        expected = expected[1:] if isinstance(expected, tuple) else sample
        if len(sample) != len(expected) or any(
                e not in (None, s) for e, s in zip(expected, sample, strict=True)):
            raise ValueError(f"{model.name!r} takes inputs shaped {expected}; got inputs shaped "
                             f"{sample} in representative_data: pass training inputs, e.g. x_train[:200]")
    import tensorflow as tf

    logger = tf.get_logger()
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))  # no "Assets written to <tmp dir>" lines
    try:
        if _is_keras3(model):
            return keras_export(model, settings)
        converter = tf.lite.TFLiteConverter.from_keras_model(model)  # Keras 2 (tf_keras)
        return apply_settings(converter, settings).convert()
    finally:
        logger.setLevel(level)


def keras_exports_litert() -> bool:
    """Whether this Keras has ``model.export(format="litert")``: 3.13 and later. Keras 3.13
    needs Python 3.11, so on Python 3.10 pip installs Keras 3.12, which lacks it."""
    import keras

    return tuple(int(p) for p in keras.__version__.split(".")[:2]) >= (3, 13)


def keras_export(model, settings: dict, *, litert: bool | None = None) -> bytes:
    """The flatbuffer of ``model.export(path, format="litert", **settings)``, as bytes.

    Without that format (Keras before 3.13, or ``litert=False``) this takes the route that
    Keras's LiteRT exporter takes: the model as a SavedModel, then
    ``TFLiteConverter.from_saved_model`` with the exporter's defaults and ``settings``.
    The result is the same bytes (tests/test_quantize.py checks it where both exist).
    """
    if not _is_keras3(model):
        raise TypeError("model must be a Keras 3 model (convert() also takes tf_keras models); "
                        f"got {type(model).__name__}")
    _check_settings(settings)
    import tensorflow as tf

    litert = keras_exports_litert() if litert is None else litert
    with tempfile.TemporaryDirectory() as tmp:
        if litert:
            path = os.path.join(tmp, "model.tflite")
            model.export(path, format="litert", verbose=False, **settings)
            with open(path, "rb") as f:
                return f.read()
        model.export(tmp, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS,
                                               tf.lite.OpsSet.SELECT_TF_OPS]
        converter.experimental_enable_resource_variables = True
        return apply_settings(converter, settings).convert()


def _as_generator(representative_data, num_samples):
    if representative_data is None:
        raise ValueError(
            "mode='int8' needs representative_data to calibrate activation ranges, "
            "e.g. convert(model, 'int8', representative_data=x_train[:200])"
        )
    if not callable(representative_data):
        return representative_dataset(representative_data, num_samples=num_samples)
    try:
        first = next(iter(representative_data()), None)
    except TypeError as err:
        raise ValueError(
            "representative_data must be an array of inputs or a generator function "
            f"yielding lists of float32 arrays; calling it failed: {err}"
        ) from None
    if first is None:
        raise ValueError(
            "the representative dataset is empty: its generator yielded nothing; "
            "yield [x[i:i+1]] for a few hundred training inputs"
        )
    for item in first:
        _inputs("representative_data", item, "")
    return representative_data


def _inputs(name: str, x, empty: str) -> np.ndarray:
    """``x`` as float32 with a batch axis, non-empty and finite (NaN calibrates nothing)."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"{empty or f'{name} must be a non-empty batch of inputs'}; got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} has NaN or infinite values: fix or drop those inputs first")
    return x


def _check_flatbuffer(tflite_bytes) -> bytes:
    if not isinstance(tflite_bytes, (bytes, bytearray)):
        raise TypeError(f"tflite_bytes must be the bytes returned by convert(); got {type(tflite_bytes)}")
    if bytes(tflite_bytes[4:8]) != b"TFL3":  # the LiteRT file identifier (b"" has none either)
        raise ValueError("tflite_bytes must be the non-empty bytes returned by convert(): a LiteRT "
                         f"flatbuffer, whose bytes 4-8 are b'TFL3'; got {bytes(tflite_bytes[:8])!r}...")
    return bytes(tflite_bytes)


def interpreter(tflite_bytes: bytes, *, num_threads: int = 1):
    """An allocated ``ai_edge_litert`` Interpreter for a flatbuffer."""
    tflite_bytes = _check_flatbuffer(tflite_bytes)
    num_threads = checks.integer("num_threads", num_threads, example=1)
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=tflite_bytes, num_threads=num_threads)
    interp.allocate_tensors()
    return interp


def quantize_input(x, detail: dict) -> np.ndarray:
    """Float inputs -> the input tensor's dtype: ``q = round(x / scale) + zero_point``."""
    dtype = detail["dtype"]
    if not np.issubdtype(dtype, np.integer):
        return np.asarray(x, dtype=dtype)
    scale, zero_point = detail["quantization"]
    if scale == 0:
        raise ValueError("this integer input has no quantization scale: was it calibrated?")
    info = np.iinfo(dtype)
    q = np.round(np.asarray(x, dtype=np.float32) / scale) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize_output(q, detail: dict) -> np.ndarray:
    """Integer outputs -> float32: ``x = scale * (q - zero_point)``."""
    if not np.issubdtype(detail["dtype"], np.integer):
        return np.asarray(q, dtype=np.float32)
    scale, zero_point = detail["quantization"]
    return (scale * (np.asarray(q, dtype=np.float32) - zero_point)).astype(np.float32)


def predict_tflite(tflite_bytes: bytes, x, *, num_threads: int = 1,
                   batch_size: int = 256) -> np.ndarray:
    """Float32 outputs for float inputs ``x``; int8/uint8 I/O is (de)quantized for you."""
    x = _inputs("x", x, "")
    batch_size = checks.integer("batch_size", batch_size, example=256)
    interp = interpreter(tflite_bytes, num_threads=num_threads)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    results = []
    for start in range(0, len(x), batch_size):
        batch = x[start : start + batch_size]
        if tuple(inp["shape"]) != batch.shape:
            interp.resize_tensor_input(inp["index"], list(batch.shape))
            interp.allocate_tensors()
            inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
        interp.set_tensor(inp["index"], quantize_input(batch, inp))
        interp.invoke()
        results.append(dequantize_output(interp.get_tensor(out["index"]), out))
    return np.concatenate(results)


def evaluate_tflite(tflite_bytes: bytes, x, y, *, num_threads: int = 1) -> dict:
    """Top-1 accuracy of a flatbuffer on ``(x, y)``, plus its I/O dtypes and file size.

    ``y``: class indices shaped (n,) (or (n, 1)); one-hot labels are refused.
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        raise ValueError(f"y must be class indices shaped (n,); got shape {y.shape}, one-hot? "
                         "pass y.argmax(-1)")
    y = y.reshape(-1) if y.ndim == 2 else y
    if y.ndim != 1 or not np.all(np.round(y) == y):
        raise ValueError(f"y must be integer class indices shaped (n,); got shape {y.shape}")
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length; got {len(x)} and {len(y)}")
    outputs = predict_tflite(tflite_bytes, x, num_threads=num_threads)
    interp = interpreter(tflite_bytes)
    return {
        "accuracy": float(np.mean(outputs.argmax(axis=-1) == y)),
        "n": int(len(y)),
        "input_dtype": np.dtype(interp.get_input_details()[0]["dtype"]).name,
        "output_dtype": np.dtype(interp.get_output_details()[0]["dtype"]).name,
        "size_bytes": len(tflite_bytes),
    }


def latency(tflite_bytes: bytes, x, *, repeats: int = 200, warmup: int = 20,
            num_threads: int = 1) -> dict:
    """Milliseconds per ``invoke()``: median, min, max, spread, and per example.

    ``x`` is one input (with or without its batch axis of 1) or a batch of inputs. It is
    quantized once, outside the timed region; ``warmup`` calls run untimed first.
    """
    from hpclab import bench

    interp = interpreter(tflite_bytes, num_threads=num_threads)
    inp = interp.get_input_details()[0]
    x = np.asarray(x, dtype=np.float32)
    example_shape = tuple(int(n) for n in inp["shape"][1:])
    x = x[None] if x.shape == example_shape else x
    if x.shape[1:] != example_shape or len(x) == 0:
        raise ValueError(
            f"x must be one example shaped {example_shape} or a batch shaped "
            f"(n, {', '.join(map(str, example_shape))}); got {x.shape}"
        )
    x = _inputs("x", x, "")
    if x.shape != tuple(inp["shape"]):
        interp.resize_tensor_input(inp["index"], list(x.shape))
        interp.allocate_tensors()
        inp = interp.get_input_details()[0]
    interp.set_tensor(inp["index"], quantize_input(x, inp))
    timing = bench.measure(interp.invoke, repeats=repeats, warmup=warmup)
    result = {f"{k}_ms": 1000.0 * timing[k] for k in ("median", "min", "max", "spread")}
    result["per_example_ms"] = result["median_ms"] / len(x)
    return result | {"batch_size": len(x), "repeats": repeats}


def size_breakdown(tflite_bytes: bytes) -> dict:
    """File bytes split into tensor data (weights, biases) and everything else.

    The rest is the flatbuffer's structure: tensor names, quantization scales and zero
    points, operator tables, signatures and metadata. It does not shrink with the
    weights, so it caps the size ratio of small models below 4x.
    """
    from tensorflow.lite.tools import flatbuffer_utils

    fb = flatbuffer_utils.convert_bytearray_to_object(bytearray(_check_flatbuffer(tflite_bytes)))
    metadata = {m.buffer for m in (fb.metadata or [])}
    data = sum(
        0 if b.data is None else len(b.data)
        for i, b in enumerate(fb.buffers) if i not in metadata
    )
    return {"file_bytes": len(tflite_bytes), "tensor_data_bytes": int(data),
            "overhead_bytes": len(tflite_bytes) - int(data)}
