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
    with pytest.raises(ValueError, match="test_size must be a finite number > 0 and < 1"):
        data.load_digits(test_size=size)


def _batches(ds):
    return [(x.numpy().tolist(), y.numpy().tolist()) for x, y in ds]


def test_make_dataset_batches_in_order_and_keeps_or_drops_the_remainder():
    x, y = np.arange(10), np.arange(10) * 10
    batches = _batches(data.make_dataset(x, y, np.int64(4)))  # NumPy integers are integers
    assert [bx for bx, _ in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert all(by == [10 * v for v in bx] for bx, by in batches)
    assert [len(bx) for bx, _ in _batches(data.make_dataset(x, y, 4, drop_remainder=True))] == [4, 4]
    repeated = data.make_dataset(x, y, 4, repeat=True).take(4)
    assert sum(len(bx) for bx, _ in _batches(repeated)) == 16  # batches run across the epoch end


def test_make_dataset_shuffles_with_its_seed_and_reshuffles_each_epoch():
    x, y = np.arange(64), np.arange(64) + 100
    flat = lambda ds: [v for bx, _ in _batches(ds) for v in bx]  # noqa: E731
    ds = data.make_dataset(x, y, 8, shuffle=True, seed=1)
    first, second = flat(ds), flat(ds)
    assert sorted(first) == list(range(64)) and first != list(range(64))
    assert second != first  # a new order every epoch
    assert flat(data.make_dataset(x, y, 8, shuffle=True, seed=1)) == first  # the seed fixes it
    assert flat(data.make_dataset(x, y, 8, shuffle=True, seed=2)) != first
    assert all(by == [v + 100 for v in bx] for bx, by in _batches(ds))  # pairs stay together


def test_make_dataset_rejects_bad_input():
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        data.make_dataset(np.zeros(4), np.zeros(4), 0)
    with pytest.raises(TypeError, match="batch_size must be an integer >= 1"):
        data.make_dataset(np.zeros(4), np.zeros(4), 2.0)
    with pytest.raises(TypeError, match="shuffle must be True or False"):
        data.make_dataset(np.zeros(4), np.zeros(4), 2, shuffle="yes")
    with pytest.raises(ValueError, match="same length"):
        data.make_dataset(np.zeros(4), np.zeros(3), 2)
    with pytest.raises(ValueError, match="x and y are empty"):
        data.make_dataset(np.zeros((0, 3)), np.zeros(0), 2, shuffle=True)


def test_measure_times_only_the_repeats(monkeypatch):
    """A fake clock: each call of fn advances it by a known amount; warm-up calls by 100."""
    clock = [0.0]
    durations = iter([100.0, 100.0, 3.0, 1.0, 2.0, 6.0])
    monkeypatch.setattr(bench.time, "perf_counter", lambda: clock[0])

    def fn():
        clock[0] += next(durations)

    result = bench.measure(fn, repeats=4, warmup=np.int64(2))
    assert result["samples"] == [3.0, 1.0, 2.0, 6.0]  # warm-up untimed, every repeat timed
    assert (result["median"], result["min"], result["max"], result["spread"]) == (2.5, 1.0, 6.0, 5.0)


def test_measure_rejects_bad_counts():
    with pytest.raises(ValueError, match="repeats must be an integer >= 1"):
        bench.measure(lambda: None, repeats=0)
    with pytest.raises(ValueError, match="warmup must be an integer >= 0"):
        bench.measure(lambda: None, warmup=-1)
    with pytest.raises(TypeError, match="repeats must be an integer"):
        bench.measure(lambda: None, repeats=2.5)
