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

MODES = ("float32", "dynamic", "float16", "int8")


def representative_dataset(x, *, num_samples: int | None = None):
    """A generator function for ``converter.representative_dataset``.

    It yields the first ``num_samples`` inputs of ``x`` (all of them by default). Each
    item is a list with one float32 array per model input, each with its batch axis of
    size 1: ``[x[i:i+1]]``. The converter runs these through the float model to record
    the range of every activation (calibration); 100-500 training inputs are typical.
    """
    if num_samples is not None and (
        isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1
    ):
        raise ValueError(f"num_samples must be an integer >= 1, e.g. 100; got {num_samples!r}")
    x = np.asarray(x, dtype=np.float32)
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(
            "the representative dataset is empty: pass a few hundred real training inputs "
            f"with a batch axis first, e.g. x_train[:200]; got an array of shape {x.shape}"
        )
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
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, e.g. mode='int8'; got {mode!r}")
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


def apply_settings(converter, settings: dict):
    """Set ``settings`` (from :func:`converter_settings`) on a TFLiteConverter; returns it."""
    for name, value in settings.items():
        if name == "target_spec":
            for key, item in value.items():
                setattr(converter.target_spec, key, item)
        else:
            setattr(converter, name, value)
    return converter


def convert(model, mode: str = "float32", representative_data=None, *,
            num_samples: int | None = None) -> bytes:
    """Convert a Keras model to a LiteRT flatbuffer in one of :data:`MODES`.

    float32  no optimization (the reference).
    dynamic  int8 weights, float activations quantized on the fly (no data needed).
    float16  float16 weights (half the size; GPUs compute in float16 directly).
    int8     full-integer: int8 weights and activations, int8 input and output,
             calibrated on ``representative_data`` (e.g. ``x_train[:200]``).

    Keras 3 models go through ``model.export(format="litert")``; Keras 2 (tf_keras)
    models through ``tf.lite.TFLiteConverter.from_keras_model``.
    """
    settings = converter_settings(mode, representative_data, num_samples=num_samples)
    import tensorflow as tf

    logger = tf.get_logger()
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))  # no "Assets written to <tmp dir>" lines
    try:
        if type(model).__module__.split(".")[0] == "keras":  # Keras 3
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, f"model_{mode}.tflite")
                model.export(path, format="litert", verbose=False, **settings)
                with open(path, "rb") as f:
                    return f.read()
        converter = tf.lite.TFLiteConverter.from_keras_model(model)  # Keras 2 (tf_keras)
        return apply_settings(converter, settings).convert()
    finally:
        logger.setLevel(level)


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
    return representative_data


def interpreter(tflite_bytes: bytes, *, num_threads: int = 1):
    """An allocated ``ai_edge_litert`` Interpreter for a flatbuffer."""
    if not isinstance(tflite_bytes, (bytes, bytearray)) or not tflite_bytes:
        raise ValueError("tflite_bytes must be the non-empty bytes returned by convert()")
    if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
        raise ValueError(f"num_threads must be an integer >= 1, e.g. 1; got {num_threads!r}")
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=bytes(tflite_bytes), num_threads=num_threads)
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
    x = np.asarray(x, dtype=np.float32)
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"x must be a non-empty batch of inputs; got shape {x.shape}")
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
    """Top-1 accuracy of a flatbuffer on ``(x, y)``, plus its I/O dtypes and file size."""
    y = np.asarray(y)
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
    if x.shape == example_shape:
        x = x[None]
    if x.shape[1:] != example_shape or len(x) == 0:
        raise ValueError(
            f"x must be one example shaped {example_shape} or a batch shaped "
            f"(n, {', '.join(map(str, example_shape))}); got {x.shape}"
        )
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

    fb = flatbuffer_utils.convert_bytearray_to_object(bytearray(tflite_bytes))
    metadata = {m.buffer for m in (fb.metadata or [])}
    data = sum(
        0 if b.data is None else len(b.data)
        for i, b in enumerate(fb.buffers) if i not in metadata
    )
    return {"file_bytes": len(tflite_bytes), "tensor_data_bytes": int(data),
            "overhead_bytes": len(tflite_bytes) - int(data)}
