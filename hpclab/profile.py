"""Read a TensorFlow profiler trace offline with xprof: the step-time breakdown as a table.

Plumbing for notebooks/02_input_pipelines.ipynb, which captures the traces itself
(``tf.profiler.experimental.start/stop`` and a ``Trace("train", step_num=..., _r=1)``
around every step). The profiler writes ``<logdir>/plugins/profile/<run>/<host>.xplane.pb``;
xprof (the converter behind TensorBoard's profile tab) turns it into the same JSON the
"overview_page" and "input_pipeline_analyzer" pages show. Here that JSON becomes plain
numbers: a pandas DataFrame, one row per step, and a small dict. File names carry the host
name, so nothing returned here contains a file name or a path.

Open the same trace interactively with ``xprof --logdir <logdir>`` (or TensorBoard with the
profile plugin): see the lesson.
"""

from __future__ import annotations

import json
import os

from hpclab import checks

TOOLS = ("overview_page", "input_pipeline_analyzer", "framework_op_stats", "trace_viewer")

# overview_page's step-time columns (milliseconds), grouped into what the lesson needs.
_INPUT = ("infeedTimeMs",)
_COMPUTE = ("hostComputeTimeMs", "deviceComputeTimeMs", "kernelLaunchTimeMs",
            "deviceToDeviceTimeMs", "deviceCollectivesTimeMs")
_OTHER = ("outfeedTimeMs", "compileTimeMs", "otherTimeMs")


def runs(logdir) -> list[str]:
    """The trace folders under ``logdir/plugins/profile`` that hold trace files, oldest first."""
    logdir = os.fspath(logdir)
    if not os.path.isdir(logdir):
        raise ValueError(f"logdir must be the folder given to tf.profiler.experimental.start(); "
                         f"{logdir!r} is not a directory")
    profile_dir = os.path.join(logdir, "plugins", "profile")
    if not os.path.isdir(profile_dir):
        raise ValueError(f"no trace in {logdir!r} (no plugins/profile folder): capture one with "
                         "tf.profiler.experimental.start(logdir) ... tf.profiler.experimental.stop()")
    folders = [os.path.join(profile_dir, name) for name in sorted(os.listdir(profile_dir))]
    found = [folder for folder in folders if os.path.isdir(folder)
             and any(f.endswith(".xplane.pb") for f in os.listdir(folder))]
    if not found:
        raise ValueError(f"no .xplane.pb trace files under {profile_dir!r}: did "
                         "tf.profiler.experimental.stop() run after start()?")
    return found


def trace_files(logdir, *, run: int = -1) -> list[str]:
    """The ``.xplane.pb`` files of one capture (default: the newest) under ``logdir``."""
    all_runs = runs(logdir)
    run = checks.integer("run", run, minimum=-len(all_runs), maximum=len(all_runs) - 1, example=-1)
    folder = all_runs[run]
    return sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".xplane.pb"))


def convert(logdir, tool: str = "overview_page", *, run: int = -1):
    """Convert one capture with xprof; returns the tool's data (parsed JSON for JSON tools)."""
    checks.one_of("tool", tool, TOOLS)
    files = trace_files(logdir, run=run)
    try:
        from xprof.convert import raw_to_tool_data
    except ImportError as err:
        raise ImportError("the profiler lessons need xprof (pinned in pyproject.toml): "
                          "run `make lab` or `pip install xprof==2.22.0`") from err
    raw = raw_to_tool_data.xspace_to_tool_data(files, tool, {})
    data = raw[0] if isinstance(raw, tuple) else raw
    if not data:
        raise RuntimeError(f"xprof could not convert the trace with tool {tool!r}: the files may be "
                           "truncated; capture the trace again")
    if isinstance(data, bytes):
        data = data.decode()
    return json.loads(data) if tool != "trace_viewer" or data.lstrip().startswith("{") else data


def step_breakdown(logdir, *, run: int = -1, skip_first: int = 0):
    """Per-step times (ms) from the trace: ``step``, ``input``, ``compute``, ``other``, ``total``.

    Steps are the ``tf.profiler.experimental.Trace("train", step_num=i, _r=1)`` blocks.
    ``input`` is the time the step waited for its batch (xprof's "Input"), ``compute`` the
    host and device compute (plus kernel launch and device communication), ``other`` the rest
    (Python overhead, compilation, output). ``skip_first`` drops the first steps (start-up).
    """
    import pandas as pd

    skip_first = checks.integer("skip_first", skip_first, minimum=0, example=1)
    pages = convert(logdir, "overview_page", run=run)
    table = _step_table(pages)
    columns = [col["id"] for col in table["cols"]]
    rows = []
    for row in table.get("rows", []):
        values = dict(zip(columns, (cell.get("v") for cell in row["c"]), strict=False))
        rows.append({
            "step": str(values.get("stepnum")),
            "input": sum(float(values.get(k) or 0) for k in _INPUT),
            "compute": sum(float(values.get(k) or 0) for k in _COMPUTE),
            "other": sum(float(values.get(k) or 0) for k in _OTHER),
            "total": float(values.get("stepTimeMs") or 0),
        })
    if len(rows) <= skip_first:
        raise ValueError(f"the trace has {len(rows)} marked steps, not more than skip_first="
                         f"{skip_first}: wrap each step in tf.profiler.experimental.Trace('train', "
                         "step_num=i, _r=1) while the profiler runs")
    return pd.DataFrame(rows[skip_first:]).reset_index(drop=True)


def summarize(frame) -> dict:
    """Totals of a ``step_breakdown`` frame: steps, median step ms, and input/compute/other %."""
    missing = {"input", "compute", "other", "total"} - set(getattr(frame, "columns", []))
    if missing:
        raise ValueError(f"frame must come from hpclab.profile.step_breakdown(); missing columns "
                         f"{sorted(missing)}")
    total = float(frame["total"].sum())
    if len(frame) == 0 or total <= 0:
        raise ValueError("the frame has no step time: capture more steps")
    return {
        "steps": len(frame),
        "median step ms": float(frame["total"].median()),
        "input %": 100 * float(frame["input"].sum()) / total,
        "compute %": 100 * float(frame["compute"].sum()) / total,
        "other %": 100 * float(frame["other"].sum()) / total,
    }


def _step_table(pages):
    """The overview page's step-time table (the one with a ``stepnum`` column)."""
    for page in pages if isinstance(pages, list) else [pages]:
        ids = [col.get("id") for col in page.get("cols", [])] if isinstance(page, dict) else []
        if "stepnum" in ids:
            return page
    raise RuntimeError("xprof's overview page has no step-time table: this xprof version "
                       "may differ from the pinned xprof==2.22.0")


def input_verdict(logdir, *, run: int = -1) -> str:
    """xprof's one-sentence verdict on input-boundness (what TensorBoard's overview page says)."""
    table = _step_table(convert(logdir, "overview_page", run=run))
    verdict = table.get("p", {}).get("input_conclusion", "")
    if not verdict:
        raise RuntimeError("xprof's overview page has no input verdict: this xprof version "
                           "may differ from the pinned xprof==2.22.0")
    return verdict
