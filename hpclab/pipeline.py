"""Record which device works when, measure the idle share, draw a Gantt chart.

Plumbing for notebooks/08_model_parallelism.ipynb, which teaches the lesson itself
(splitting a model across devices with ``tf.device``, the GPipe micro-batch schedule
and its bubble (N-1)/(M+N-1)). Nothing here imports TensorFlow.
"""

from __future__ import annotations

import contextlib
import threading
import time

from hpclab import checks


class Timeline:
    """A thread-safe log of work intervals, one lane per device (or stage).

    Use ``with timeline.record("CPU:0", label): ...`` around each piece of work.
    Every start and end is appended to ``events`` under a lock, so the order of
    ``events`` is the order in which things happened, whatever the clock says.

    Taught in notebooks/08_model_parallelism.ipynb.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self.events: list[tuple[str, str, object, float]] = []  # (kind, lane, label, seconds)

    def clear(self) -> None:
        """Forget everything recorded so far."""
        with self._lock:
            self.events.clear()

    @contextlib.contextmanager
    def record(self, lane: str, label=None):
        """Log the start and the end of the work done inside the ``with`` block."""
        if not isinstance(lane, str) or not lane:
            raise ValueError(f"lane must be a non-empty string such as 'CPU:0'; got {lane!r}")
        with self._lock:
            self.events.append(("start", lane, label, time.perf_counter()))
        try:
            yield
        finally:
            with self._lock:
                self.events.append(("end", lane, label, time.perf_counter()))

    def intervals(self):
        """A pandas DataFrame: lane, label, start, end, duration (seconds from the first start)."""
        import pandas as pd

        if not self.events:
            raise ValueError("nothing recorded yet: wrap work in `with timeline.record(lane, label):`")
        open_, rows = {}, []
        t0 = min(t for kind, _, _, t in self.events if kind == "start")
        for kind, lane, label, t in self.events:
            key = (lane, label)
            if kind == "start":
                if key in open_:
                    raise ValueError(f"{key} started twice without ending: use distinct labels")
                open_[key] = t
            else:
                start = open_.pop(key)
                rows.append((lane, label, start - t0, t - t0, t - start))
        if open_:
            raise ValueError(f"intervals still open (a record block is running): {sorted(open_, key=str)}")
        frame = pd.DataFrame(rows, columns=["lane", "label", "start", "end", "duration"])
        return frame.sort_values(["lane", "start"], ignore_index=True)

    def max_concurrency(self) -> int:
        """The largest number of lanes busy at the same moment, read from the event order."""
        busy, peak = {}, 0
        for kind, lane, _, _ in self.events:
            busy[lane] = busy.get(lane, 0) + (1 if kind == "start" else -1)
            peak = max(peak, sum(1 for n in busy.values() if n > 0))
        return peak

    def idle_fraction(self, n_lanes: int | None = None) -> float:
        """Measured bubble: 1 - busy time / (lanes x span from first start to last end).

        ``n_lanes`` defaults to the lanes that recorded something; pass the number of
        devices if some device never worked (it then counts as idle all the time).
        """
        frame = self.intervals()
        seen = frame["lane"].nunique()  # at least the lanes recorded
        lanes = seen if n_lanes is None else checks.integer("n_lanes", n_lanes, minimum=seen)
        span = frame["end"].max() - frame["start"].min()
        if span <= 0:
            raise ValueError("the recorded span is zero: record some real work first")
        return float(1.0 - frame["duration"].sum() / (lanes * span))


def plot_timeline(frame, ax=None, *, title: str | None = None, unit: str = "ms"):
    """Draw ``frame`` (lane, label, start, end; as from Timeline.intervals) as a Gantt chart.

    One row per lane, one bar per interval, the label written in the bar. ``unit`` is
    "ms" or "s" for measured seconds, or "tick" when start/end are schedule steps.
    Returns the matplotlib Axes.
    """
    import matplotlib.pyplot as plt

    scale = {"ms": 1e3, "s": 1.0, "tick": 1.0}
    checks.one_of("unit", unit, scale)
    if len(frame) == 0:
        raise ValueError("nothing to plot: the frame has no intervals")
    missing = {"lane", "label", "start", "end"} - set(frame.columns)
    if missing:
        raise ValueError(f"frame needs the columns lane, label, start, end; missing {sorted(missing)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 2))
    lanes = sorted(frame["lane"].unique())
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    labels = list(dict.fromkeys(frame["label"]))  # one colour per label (e.g. per micro-batch)
    for row, lane in enumerate(lanes):
        for item in frame[frame["lane"] == lane].itertuples():
            start, width = item.start * scale[unit], (item.end - item.start) * scale[unit]
            color = colors[labels.index(item.label) % len(colors)]
            ax.broken_barh([(start, width)], (row - 0.4, 0.8), facecolors=color, edgecolor="black",
                           linewidth=0.5)
            if item.label is not None:
                ax.text(start + width / 2, row, str(item.label), ha="center", va="center", fontsize=7)
    ax.set_yticks(range(len(lanes)), lanes)
    ax.set_ylim(-0.6, len(lanes) - 0.4)
    ax.invert_yaxis()
    ax.set_xlabel({"ms": "time (ms)", "s": "time (s)", "tick": "schedule step"}[unit])
    if title:
        ax.set_title(title, fontsize=9)
    return ax
