import threading

import matplotlib
import numpy as np
import pandas as pd
import pytest

from hpclab import pipeline
from hpclab.pipeline import Timeline, plot_timeline

pytestmark = pytest.mark.serial  # checks timing bands: `make test` runs these alone

matplotlib.use("Agg")


@pytest.fixture
def clock(monkeypatch):
    """A fake clock (seconds) that only moves when the test says: exact under any load."""
    now = [0.0]
    monkeypatch.setattr(pipeline.time, "perf_counter", lambda: now[0])
    return now


def test_sequential_work_has_concurrency_one_and_idle_gaps_count(clock):
    tl = Timeline()
    for i in range(3):
        with tl.record("A", i):
            clock[0] += 1.0
    frame = tl.intervals()
    assert list(frame["label"]) == [0, 1, 2]
    assert frame["start"].tolist() == [0.0, 1.0, 2.0] and (frame["duration"] == 1.0).all()
    assert tl.max_concurrency() == 1
    assert tl.idle_fraction() == 0.0  # one lane, back-to-back work
    clock[0] += 3.0  # a gap of 3 s, then 1 s more work: busy 4 of 7 s
    with tl.record("A", 3):
        clock[0] += 1.0
    assert tl.idle_fraction() == pytest.approx(3 / 7)


def test_two_lanes_one_after_the_other_are_idle_half_the_time(clock):
    tl = Timeline()
    with tl.record("dev0", "x"):
        clock[0] += 0.05
    with tl.record("dev1", "x"):
        clock[0] += 0.05
    assert tl.max_concurrency() == 1
    assert tl.idle_fraction() == pytest.approx(0.5)
    # A device that never worked counts as idle the whole time: busy 0.1 of 4 x 0.1 s.
    assert tl.idle_fraction(n_lanes=np.int64(4)) == pytest.approx(0.75)


def test_threads_working_together_are_seen_as_concurrent():
    tl = Timeline()
    barrier = threading.Barrier(2)

    def work(lane):
        with tl.record(lane, 0):
            barrier.wait(timeout=5)  # both are inside their record block at once

    threads = [threading.Thread(target=work, args=(f"dev{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert tl.max_concurrency() == 2
    assert len(tl.intervals()) == 2


def test_an_exception_inside_record_still_closes_the_interval():
    tl = Timeline()
    with pytest.raises(ZeroDivisionError), tl.record("dev0", 0):
        raise ZeroDivisionError("boom")
    assert len(tl.intervals()) == 1


def test_bad_inputs_get_clear_errors():
    tl = Timeline()
    with pytest.raises(ValueError, match="nothing recorded yet"):
        tl.intervals()
    with pytest.raises(ValueError, match="nothing recorded yet"):
        tl.idle_fraction()
    with pytest.raises(ValueError, match="lane must be a non-empty string"), tl.record("", 0):
        pass
    with tl.record("a", 0), tl.record("b", 0):
        pass
    with pytest.raises(ValueError, match="n_lanes must be an integer >= 2"):
        tl.idle_fraction(n_lanes=1)
    with pytest.raises(ValueError, match="started twice"):
        with tl.record("a", 1), tl.record("a", 1):
            pass
        tl.intervals()
    tl.clear()
    assert tl.events == []


def test_plot_timeline_draws_one_row_per_lane_and_rejects_bad_frames():
    frame = pd.DataFrame(
        {"lane": ["s0", "s0", "s1"], "label": [0, 1, 0], "start": [0, 1, 1], "end": [1, 2, 2]}
    )
    ax = plot_timeline(frame, unit="tick", title="schedule")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["s0", "s1"]
    assert len(ax.collections) == 3
    with pytest.raises(ValueError, match="unit must be one of"):
        plot_timeline(frame, unit="minutes")
    with pytest.raises(ValueError, match="nothing to plot"):
        plot_timeline(frame.iloc[:0])
    with pytest.raises(ValueError, match="missing"):
        plot_timeline(frame.drop(columns=["end"]))
    matplotlib.pyplot.close("all")
