import numpy as np
import pytest

from hpclab import bench, data


def test_digits_split_is_stratified_scaled_and_reproducible():
    (x_train, y_train), (x_test, y_test) = data.load_digits()
    assert x_train.shape[1:] == (8, 8, 1) and x_train.dtype == np.float32
    assert len(x_train) + len(x_test) == 1797
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    assert set(np.unique(y_test)) == set(range(10))
    (x_again, _), _ = data.load_digits()
    np.testing.assert_array_equal(x_train, x_again)
    (flat, _), _ = data.load_digits(flat=True)
    assert flat.shape[1:] == (64,)


@pytest.mark.parametrize("size", [0, 1, 1.5, -0.1])
def test_bad_test_size(size):
    with pytest.raises(ValueError, match="test_size must be a fraction"):
        data.load_digits(test_size=size)


def test_make_dataset_rejects_bad_batch_and_mismatched_lengths():
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        data.make_dataset(np.zeros(4), np.zeros(4), 0)
    with pytest.raises(ValueError, match="same length"):
        data.make_dataset(np.zeros(4), np.zeros(3), 2)


def test_mnist_is_opt_in():
    with pytest.raises(RuntimeError, match="allow_download=True"):
        data.load_mnist()


def test_mnist_offline_fails_with_a_clear_message(monkeypatch, tmp_path):
    """Simulated offline (no real request leaves the machine): the error names the fix."""
    import urllib.error

    import keras

    def offline(*args, **kwargs):
        assert kwargs["file_hash"] == data.MNIST_SHA256  # the download is hash-checked
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    with pytest.raises(RuntimeError, match="are you offline.*load_digits"):
        data.load_mnist(allow_download=True, cache_dir=str(tmp_path))


def test_measure_reports_median_and_spread():
    calls = []
    result = bench.measure(lambda: calls.append(1), repeats=3, warmup=2)
    assert len(calls) == 5 and len(result["samples"]) == 3
    assert result["min"] <= result["median"] <= result["max"]
    with pytest.raises(ValueError, match="repeats must be an integer >= 1"):
        bench.measure(lambda: None, repeats=0)
    with pytest.raises(ValueError, match="warmup must be an integer >= 0"):
        bench.measure(lambda: None, warmup=-1)
