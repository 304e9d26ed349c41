import os
import time

import numpy as np
import pytest
from helpers import run_python

from hpclab import records

pytestmark = pytest.mark.serial  # checks simulated storage waits: `make test` runs these alone


def test_import_does_not_pull_in_tensorflow():
    result = run_python("""
        import sys
        import hpclab.records, hpclab.profile
        assert "tensorflow" not in sys.modules, "hpclab.records or hpclab.profile imported tensorflow"
        print("ok")
    """, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.fixture(scope="module")
def tf():
    import tensorflow

    return tensorflow


@pytest.fixture
def digits():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 17, size=(10, 8, 8, 1)) / 16.0
    y = np.arange(10) % 3
    return x.astype("float32"), y.astype("int32")


def _parse(tf, serialized):
    spec = {"image": tf.io.FixedLenFeature([], tf.string),
            "label": tf.io.FixedLenFeature([], tf.int64),
            "index": tf.io.FixedLenFeature([], tf.int64)}
    return tf.io.parse_example(serialized, spec)


def test_write_shards_round_robin_and_read_back(tf, digits, tmp_path):
    x, y = digits
    paths = records.write_shards(x, y, tmp_path, 3, prefix="t")
    assert [os.path.basename(p) for p in paths] == [f"t-0000{i}-of-00003.tfrecord" for i in range(3)]
    for shard, path in enumerate(paths):
        parsed = _parse(tf, tf.data.TFRecordDataset(path).batch(100).get_single_element())
        index = parsed["index"].numpy()
        np.testing.assert_array_equal(index, np.arange(shard, 10, 3))  # example i in shard i % 3
        np.testing.assert_array_equal(parsed["label"].numpy(), y[index])
        pixels = tf.io.decode_raw(parsed["image"], tf.uint8).numpy().reshape(-1, 8, 8, 1)
        np.testing.assert_allclose(pixels / 255.0, x[index], atol=0.5 / 255 + 1e-7)


@pytest.mark.parametrize("num_shards, error", [(0, ValueError), (-1, ValueError), (11, ValueError),
                                               (2.0, TypeError), ("2", TypeError), (True, TypeError)])
def test_write_shards_rejects_bad_num_shards(digits, tmp_path, num_shards, error):
    with pytest.raises(error, match="num_shards must be"):
        records.write_shards(*digits, tmp_path, num_shards)


def test_write_shards_rejects_bad_inputs(digits, tmp_path):
    x, y = digits
    with pytest.raises(ValueError, match="existing directory.*TemporaryDirectory"):
        records.write_shards(x, y, tmp_path / "missing", 2)
    with pytest.raises(ValueError, match="same length"):
        records.write_shards(x, y[:-1], tmp_path, 2)
    with pytest.raises(ValueError, match=r"pixel values in \[0, 1\]"):
        records.write_shards(x * 16, y, tmp_path, 2)
    with pytest.raises(ValueError, match="prefix must be a non-empty file name"):
        records.write_shards(x, y, tmp_path, 2, prefix="a/b")
    assert not list(tmp_path.iterdir()), "a rejected call must not write files"


@pytest.mark.parametrize("kwargs, error", [
    ({"open_latency_s": -0.1, "record_latency_s": 0}, ValueError),
    ({"open_latency_s": 0, "record_latency_s": float("nan")}, ValueError),
    ({"open_latency_s": "5ms", "record_latency_s": 0}, TypeError),
    ({"open_latency_s": 0, "record_latency_s": 60}, ValueError),
])
def test_storage_rejects_bad_latencies(kwargs, error):
    with pytest.raises(error, match="latency_s must be"):
        records.SimulatedStorage(**kwargs)


def test_storage_reads_every_record_in_order_and_pays_the_latency(tf, digits, tmp_path):
    x, y = digits
    paths = records.write_shards(x, y, tmp_path, 2)
    storage = records.SimulatedStorage(open_latency_s=0.02, record_latency_s=0.005)
    assert "open_latency_s=0.02" in repr(storage)
    reader = tf.data.Dataset.from_tensor_slices(paths).flat_map(storage.read)
    start = time.perf_counter()
    got = [r.numpy() for r in reader]
    seconds = time.perf_counter() - start
    plain = [r.numpy() for r in tf.data.TFRecordDataset(paths)]
    assert got == plain  # same records, same order as TFRecordDataset(paths)
    expected = storage.expected_seconds(2, 10)
    assert expected == pytest.approx(2 * 0.02 + 10 * 0.005)
    assert seconds >= expected  # a sleep never ends early


def test_storage_waits_overlap_when_files_are_read_in_parallel(tf, digits, tmp_path):
    x, y = digits
    paths = records.write_shards(x, y, tmp_path, 5)
    storage = records.SimulatedStorage(open_latency_s=0.2, record_latency_s=0.0)
    files = tf.data.Dataset.from_tensor_slices(paths)

    def seconds(dataset):
        start = time.perf_counter()
        assert len(list(dataset)) == 10
        return time.perf_counter() - start

    # 5 opens of 0.2 s: at least 1 s one after the other, about 0.2 s at the same time
    sequential = seconds(files.flat_map(storage.read))
    parallel = seconds(files.interleave(storage.read, cycle_length=5, num_parallel_calls=5))
    assert sequential >= storage.expected_seconds(5, 10) == pytest.approx(1.0)
    assert parallel < sequential / 2, (parallel, sequential)


def test_storage_read_rejects_a_non_string_path(tf):
    storage = records.SimulatedStorage(0, 0)
    with pytest.raises(TypeError, match="path must be one file name"):
        storage.read(3)
    with pytest.raises(TypeError, match="path must be one file name"):
        storage.read(["a", "b"])
    with pytest.raises(ValueError, match="num_files must be"):
        storage.expected_seconds(-1, 0)


def _shard_view(tf, paths, policy, num_workers):
    storage = records.SimulatedStorage(0, 0)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = policy
    dataset = (tf.data.Dataset.from_tensor_slices(paths).interleave(storage.read, cycle_length=4)
               .map(lambda s: _parse(tf, s[None])["index"][0]).with_options(options))
    return [sorted(int(i) for i in records.worker_view(dataset, num_workers, w))
            for w in range(num_workers)]


def test_worker_view_file_data_and_off(tf, tmp_path):
    x, y = np.zeros((12, 8, 8, 1), "float32"), np.zeros(12, "int32")
    paths = records.write_shards(x, y, tmp_path, 4)
    policy = tf.data.experimental.AutoShardPolicy
    file_view = _shard_view(tf, paths, policy.FILE, 2)
    assert file_view == [[0, 2, 4, 6, 8, 10], [1, 3, 5, 7, 9, 11]]  # files 0, 2 and 1, 3
    assert {i % 4 for i in file_view[0]} == {0, 2}
    data_view = _shard_view(tf, paths, policy.DATA, 3)
    assert sorted(sum(data_view, [])) == list(range(12)) and all(len(v) == 4 for v in data_view)
    file_view3 = _shard_view(tf, paths, policy.FILE, 3)  # 4 files on 3 workers: 2, 1, 1
    assert [len(v) for v in file_view3] == [6, 3, 3]
    off_view = _shard_view(tf, paths, policy.OFF, 2)
    assert off_view == [list(range(12))] * 2


def test_worker_view_rejects_bad_arguments(tf):
    dataset = tf.data.Dataset.range(4)
    with pytest.raises(ValueError, match="index must be an integer >= 0 and <= 1"):
        records.worker_view(dataset, 2, 2)
    with pytest.raises(ValueError, match="num_workers must be an integer >= 1"):
        records.worker_view(dataset, 0, 0)
    with pytest.raises(TypeError, match="dataset must be a tf.data.Dataset"):
        records.worker_view([1, 2], 2, 0)
