import os

import pandas as pd
import pytest
from helpers import run_python

from hpclab import profile

pytestmark = pytest.mark.serial  # checks which part of a step takes the time: `make test` runs these alone

CAPTURE = """
    import sys, time
    import tensorflow as tf
    logdir = sys.argv[1] if len(sys.argv) > 1 else {logdir!r}
    slow = tf.data.Dataset.range(100).map(
        lambda i: tf.numpy_function(lambda v: (time.sleep(0.03), v)[1], [i], tf.int64))
    it = iter(slow)
    x = tf.random.normal([64, 64])
    step = tf.function(lambda a: tf.reduce_sum(tf.matmul(a, a)))
    step(x)
    tf.profiler.experimental.start(logdir)
    for i in range(6):
        with tf.profiler.experimental.Trace("train", step_num=i, _r=1):
            next(it)
            step(x)
    tf.profiler.experimental.stop()
    del it  # on Python 3.13 a live iterator over a numpy_function map hangs the exit (TF 2.21)
    print("captured")
"""


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("trace"))
    result = run_python(CAPTURE.format(logdir=logdir), timeout=180)
    assert result.returncode == 0 and "captured" in result.stdout, result.stderr[-2000:]
    return logdir


def test_step_breakdown_of_an_input_bound_loop(trace):
    frame = profile.step_breakdown(trace, skip_first=1)
    assert list(frame.columns) == ["step", "input", "compute", "other", "total"]
    assert len(frame) == 5 and frame["step"].iloc[0] == "train 1"
    # each element takes 30 ms to make and a step computes for about 1 ms (a few ms on a busy
    # machine): the loop waits for most of the 30 ms (tf.data may prefetch the next element
    # while the step computes)
    assert frame["input"].median() >= 15, frame
    parts = frame[["input", "compute", "other"]].sum(axis=1)
    assert (parts <= frame["total"] * 1.01 + 0.01).all(), frame
    summary = profile.summarize(frame)
    assert summary["steps"] == 5
    assert summary["input %"] > summary["compute %"] >= 0, summary


def test_outputs_carry_no_host_name_or_path(trace):
    import socket

    frame = profile.step_breakdown(trace)
    text = frame.to_string() + str(profile.summarize(frame))
    assert socket.gethostname() not in text and trace not in text
    verdict = profile.input_verdict(trace)
    assert "input" in verdict and socket.gethostname() not in verdict


def test_other_tools_convert(trace):
    pipeline = profile.convert(trace, "input_pipeline_analyzer")
    assert pipeline  # parsed JSON
    with pytest.raises(ValueError, match="tool must be one of"):
        profile.convert(trace, "no_such_tool")


def test_wrong_folders_name_the_fix(tmp_path):
    with pytest.raises(ValueError, match="is not a directory"):
        profile.step_breakdown(tmp_path / "missing")
    with pytest.raises(ValueError, match=r"no trace .*tf.profiler.experimental.start"):
        profile.step_breakdown(tmp_path)
    os.makedirs(tmp_path / "plugins" / "profile" / "2026_01_01_00_00_00")
    (tmp_path / "plugins" / "profile" / "notes.txt").write_text("a stray file is skipped")
    with pytest.raises(ValueError, match=r"no .xplane.pb trace files.*stop\(\)"):
        profile.step_breakdown(tmp_path)


def test_bad_arguments(trace):
    with pytest.raises(ValueError, match="skip_first must be an integer >= 0"):
        profile.step_breakdown(trace, skip_first=-1)
    with pytest.raises(ValueError, match=r"6 marked steps, not more than skip_first=6"):
        profile.step_breakdown(trace, skip_first=6)
    with pytest.raises(ValueError, match="run must be an integer"):
        profile.trace_files(trace, run=5)
    with pytest.raises(ValueError, match="frame must come from"):
        profile.summarize(pd.DataFrame({"x": [1]}))
    with pytest.raises(ValueError, match="no step time"):
        profile.summarize(pd.DataFrame(columns=["input", "compute", "other", "total"]))
