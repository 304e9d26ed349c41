"""TFRecord shards and a simulated slow storage: the plumbing of the input-pipeline lesson.

Taught in notebooks/02_input_pipelines.ipynb, which builds every pipeline rung itself
(prefetch, parallel map, interleave, cache, batch-then-map). Here live only the parts
that are not the lesson: writing a data set as ``tf.train.Example`` shards, and a file
reader that pays the latency of a network file system.

TensorFlow is imported inside the functions, never at module import.
"""

from __future__ import annotations

import os

from hpclab import checks

def _bytes(value: bytes):
    import tensorflow as tf

    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _int64(value: int):
    import tensorflow as tf

    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))


def write_shards(x, y, folder, num_shards: int, *, prefix: str = "data") -> list[str]:
    """Write images ``x`` (floats in [0, 1]) and labels ``y`` as ``num_shards`` TFRecord files.

    Example i goes to shard ``i % num_shards`` (round robin, so shards differ in size by at
    most one record). Each record is a ``tf.train.Example`` with the features ``image``
    (the pixels scaled to 0..255, as raw uint8 bytes), ``label`` and ``index`` (i, so a
    reader can tell which examples it saw). ``folder`` must exist. Returns the file paths,
    ``{prefix}-00000-of-000NN.tfrecord`` and so on, in shard order.
    """
    import numpy as np
    import tensorflow as tf

    num_shards = checks.integer("num_shards", num_shards, example=8)
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise ValueError(f"folder must be an existing directory, e.g. one from "
                         f"tempfile.TemporaryDirectory(); got {folder!r}")
    if not isinstance(prefix, str) or not prefix or os.sep in prefix:
        raise ValueError(f"prefix must be a non-empty file name without {os.sep!r}, "
                         f"e.g. prefix='digits'; got {prefix!r}")
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length; got {len(x)} and {len(y)}")
    if len(x) < num_shards:
        raise ValueError(f"num_shards must be <= the {len(x)} examples (no empty shards); "
                         f"got {num_shards}")
    if x.size and (np.nanmin(x) < 0 or np.nanmax(x) > 1 or np.isnan(x).any()):
        raise ValueError("x must hold pixel values in [0, 1] (e.g. from hpclab.data.load_digits)")
    pixels = np.round(x * 255).astype(np.uint8)
    paths = [os.path.join(folder, f"{prefix}-{s:05d}-of-{num_shards:05d}.tfrecord")
             for s in range(num_shards)]
    writers = [tf.io.TFRecordWriter(p) for p in paths]
    try:
        for i, (image, label) in enumerate(zip(pixels, y, strict=True)):
            example = tf.train.Example(features=tf.train.Features(feature={
                "image": _bytes(image.tobytes()),
                "label": _int64(label),
                "index": _int64(i),
            }))
            writers[i % num_shards].write(example.SerializeToString())
    finally:
        for writer in writers:
            writer.close()
    return paths


class SimulatedStorage:
    """A reader of TFRecord files that pays the latency of a slow, remote file system.

    ``read(path)`` returns a ``tf.data.Dataset`` of the serialized records of one file, like
    ``tf.data.TFRecordDataset(path)``, but it first waits ``open_latency_s`` (finding and
    opening the file on a network file system or object store) and then waits
    ``record_latency_s`` before each record (the round trip of one read). Within one file the
    waits add up one after another, as they do for a single reader; several files read at
    the same time (``interleave``) wait in parallel.

    The waits are sleeps inside the tf.data runtime (its ``SleepDataset`` op), not Python
    calls: they take time but no CPU and no Python lock, so the lesson measures the cost of
    waiting, not the cost of the simulation. Use it in ``flat_map`` or ``interleave``::

        files = tf.data.Dataset.from_tensor_slices(paths)
        records = files.flat_map(storage.read)          # one file after the other

    Taught in notebooks/02_input_pipelines.ipynb.
    """

    def __init__(self, open_latency_s: float, record_latency_s: float):
        self.open_latency_s = checks.number("open_latency_s", open_latency_s, low=0, high=10,
                                            example=0.02)
        self.record_latency_s = checks.number("record_latency_s", record_latency_s, low=0,
                                              high=10, example=0.0005)

    def __repr__(self) -> str:
        return (f"SimulatedStorage(open_latency_s={self.open_latency_s:g}, "
                f"record_latency_s={self.record_latency_s:g})")

    def read(self, path):
        """The records of the file ``path`` (a string or a scalar string tensor), slowly."""
        import tensorflow as tf

        path = tf.convert_to_tensor(path)
        if path.dtype != tf.string or path.shape.rank not in (None, 0):
            raise TypeError(f"path must be one file name (a string or a scalar tf.string); "
                            f"got {path.dtype.name} of shape {path.shape}")
        opened = _sleep(tf.data.Dataset.from_tensors(path), self.open_latency_s)
        records = opened.flat_map(tf.data.TFRecordDataset)
        return _sleep(records, self.record_latency_s)

    def expected_seconds(self, num_files: int, num_records: int) -> float:
        """The total wait of reading ``num_records`` in ``num_files`` files one after another."""
        num_files = checks.integer("num_files", num_files, minimum=0, example=8)
        num_records = checks.integer("num_records", num_records, minimum=0, example=1000)
        return num_files * self.open_latency_s + num_records * self.record_latency_s


def _sleep(dataset, seconds: float):
    """``dataset`` with a wait of ``seconds`` before each element (no CPU used)."""
    import tensorflow as tf

    microseconds = int(round(seconds * 1e6))
    if microseconds == 0:
        return dataset
    types, shapes = _flat_spec(dataset)
    variant = tf.raw_ops.SleepDataset(
        input_dataset=tf.data.experimental.to_variant(dataset),
        sleep_microseconds=tf.constant(microseconds, tf.int64),
        output_types=types, output_shapes=shapes)
    return tf.data.experimental.from_variant(variant, dataset.element_spec)


def _flat_spec(dataset):
    import tensorflow as tf

    specs = tf.nest.flatten(dataset.element_spec)
    if not all(isinstance(s, tf.TensorSpec) for s in specs):
        raise TypeError("the dataset's elements must be plain tensors (no ragged or sparse "
                        f"tensors); got {dataset.element_spec}")
    return [s.dtype for s in specs], [s.shape for s in specs]


def worker_view(dataset, num_workers: int, index: int):
    """The part of ``dataset`` that worker ``index`` of ``num_workers`` would read.

    Applies TensorFlow's own auto-shard rewrite (the one a multi-worker strategy applies to
    the dataset on every worker, e.g. in ``experimental_distribute_dataset``) with the policy
    set in ``dataset.options().experimental_distribute.auto_shard_policy``, here in one
    process, without starting workers. ``FILE`` gives each worker its own input files,
    ``DATA`` makes every worker read everything and keep every ``num_workers``-th element,
    ``OFF`` returns the dataset unchanged (every worker reads all of it).

    Taught in notebooks/02_input_pipelines.ipynb.
    """
    import tensorflow as tf

    num_workers = checks.integer("num_workers", num_workers, example=2)
    index = checks.integer("index", index, minimum=0, maximum=num_workers - 1, example=0)
    if not isinstance(dataset, tf.data.Dataset):
        raise TypeError(f"dataset must be a tf.data.Dataset; got {type(dataset).__name__}")
    policy = dataset.options().experimental_distribute.auto_shard_policy
    if policy == tf.data.experimental.AutoShardPolicy.OFF:
        return dataset
    types, shapes = _flat_spec(dataset)
    variant = tf.raw_ops.AutoShardDataset(
        input_dataset=tf.data.experimental.to_variant(dataset),
        num_workers=tf.constant(num_workers, tf.int64), index=tf.constant(index, tf.int64),
        auto_shard_policy=int(policy), output_types=types, output_shapes=shapes)
    return tf.data.experimental.from_variant(variant, dataset.element_spec)
