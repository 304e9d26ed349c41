import numpy as np
import pytest

from hpclab import train
from helpers import run_python


def test_max_weight_diff_finds_the_largest_difference_in_any_array():
    a = [np.zeros((2, 3), np.float32), np.ones(4, np.float32)]
    b = [np.zeros((2, 3), np.float32), np.array([1, 1, 1.5, 1], np.float32)]
    assert train.max_weight_diff(a, b) == 0.5
    assert train.max_weight_diff(a, a) == 0.0
    assert isinstance(train.max_weight_diff(a, b), float)


def test_max_weight_diff_sees_float32_round_off():
    a = [np.array([1.0], np.float32)]
    b = [np.nextafter(a[0], np.float32(2))]  # one unit in the last place above 1.0
    assert train.max_weight_diff(a, b) == pytest.approx(2.0**-23)


@pytest.mark.parametrize(
    "a, b, message",
    [
        ([], [], "no weights to compare"),
        ([np.zeros(2)], [np.zeros(2), np.zeros(1)], "1 and 2 weight arrays"),
        ([np.zeros((2, 3))], [np.zeros((3, 2))], r"weight 0 has shape \(2, 3\)"),
        ([np.zeros(3)], [np.zeros(1)], "same architecture"),  # would broadcast silently
    ],
)
def test_max_weight_diff_rejects_mismatched_models(a, b, message):
    with pytest.raises(ValueError, match=message):
        train.max_weight_diff(a, b)


@pytest.mark.parametrize(
    "a, b",
    [([np.nan], [1.0]), ([1.0], [np.nan]), ([np.nan], [np.nan]), ([np.inf], [np.inf]), ([1.0], [-np.inf])],
)
def test_a_diverged_model_is_never_equivalent(a, b):
    """max(0.0, nan) is 0.0: without a check, NaN weights would look identical to anything."""
    weights_a = [np.zeros(2, np.float32), np.array(a, np.float32)]
    weights_b = [np.zeros(2, np.float32), np.array(b, np.float32)]
    with pytest.raises(ValueError, match=r"weight 1 .* not finite.*diverged"):
        train.max_weight_diff(weights_a, weights_b)


def test_epoch_timer_records_one_positive_time_per_epoch():
    result = run_python("""
        import keras, numpy as np
        from hpclab import models
        from hpclab.train import epoch_timer
        model = models.mlp(hidden=(8,))
        model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        timer = epoch_timer()
        x, y = np.zeros((32, 64), "float32"), np.zeros(32, "int32")
        model.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[timer])
        assert len(timer.seconds) == 3 and all(s > 0 for s in timer.seconds), timer.seconds
        model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[timer])
        assert len(timer.seconds) == 5, timer.seconds  # a reused timer keeps counting
        print("ok")
    """)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
