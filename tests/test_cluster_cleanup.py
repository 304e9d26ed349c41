"""hpclab.cluster clean-up: stopping is parallel, survives interrupts, and leaves no folder.

The workers here are tiny Python scripts, not TensorFlow: each test takes seconds.
"""

import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import psutil
import pytest

from hpclab import cluster
from helpers import alive

pytestmark = pytest.mark.serial  # waits for processes to start and die: `make test` runs these alone

STUBBORN = """
    import json, os, signal, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # as a busy worker may: only SIGKILL works
    task = json.loads(os.environ["TF_CONFIG"])["task"]
    print(json.dumps({"worker": task["index"], "event": "up"}), flush=True)
    time.sleep(60)
"""

QUICK = """
    import json, os
    print(json.dumps({"worker": json.loads(os.environ["TF_CONFIG"])["task"]["index"]}))
"""


def gone(path, within_s=0.0):
    deadline = time.monotonic() + within_s
    while os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not os.path.exists(path)


def test_stop_waits_once_for_all_workers_not_once_per_worker(write):
    grace_s = 1.5
    job = cluster.LocalCluster(write(STUBBORN), 4).start()
    try:
        for i in range(4):
            job.wait_for(i, {"event": "up"}, timeout=30)
        start = time.monotonic()
        codes = job.stop(grace_s=grace_s)
        elapsed = time.monotonic() - start
    finally:
        job.stop(grace_s=0)
    assert codes == {i: -signal.SIGKILL for i in range(4)}  # SIGTERM ignored, then killed
    # one after the other, 4 stubborn workers would take 4 x grace_s
    assert elapsed < 2 * grace_s, f"stop took {elapsed:.1f} s for grace_s={grace_s}"
    assert not [p for p in job.pids if alive(p)]


def test_an_interrupted_stop_can_be_repeated(write, monkeypatch):
    job = cluster.LocalCluster(write(STUBBORN), 2).start()
    for i in range(2):
        job.wait_for(i, {"event": "up"}, timeout=30)
    real_wait, interrupts = subprocess.Popen.wait, [KeyboardInterrupt(), KeyboardInterrupt()]

    def interrupted_wait(self, timeout=None):  # Ctrl-C twice while stop() waits
        if interrupts:
            raise interrupts.pop()
        return real_wait(self, timeout)

    monkeypatch.setattr(subprocess.Popen, "wait", interrupted_wait)
    for _ in range(2):
        with pytest.raises(KeyboardInterrupt):
            job.stop(grace_s=0.5)
    assert job.pids and any(alive(p) for p in job.pids), "nothing left to test"
    assert job.stop(grace_s=0.5) == {0: -signal.SIGKILL, 1: -signal.SIGKILL}
    assert not [p for p in job.pids if alive(p)], "workers or namespace keeper left running"
    assert job.stop() == {0: -signal.SIGKILL, 1: -signal.SIGKILL}  # done: nothing more to do


def test_automatic_log_folder_is_removed_and_logs_stay_readable(write, tmp_path):
    with cluster.LocalCluster(write(QUICK), 2) as job:
        job.wait(timeout=30)
        log_dir = job.log_dir
        assert (log_dir / "worker0.log").exists()
    assert not log_dir.exists()
    assert [r["worker"] for r in job.records()] == [0, 1]
    mine = tmp_path / "logs"
    with cluster.LocalCluster(write(QUICK), 2, log_dir=mine) as job:
        job.wait(timeout=30)
    assert sorted(os.listdir(mine)) == ["worker0.log", "worker1.log"]  # the user's: kept


def test_after_a_failure_the_log_folder_is_kept_and_named(write):
    job = cluster.LocalCluster(write("raise SystemExit('no data here')"), 2)
    with pytest.raises(cluster.WorkerFailed, match=r"no data here.*logs kept in (\S+)\)") as err:
        with job:
            job.wait(timeout=30)
    assert str(job.log_dir) in str(err.value) and (job.log_dir / "worker0.log").exists()
    log_dir = job.log_dir
    del job, err
    gc.collect()
    assert gone(log_dir)  # kept while the job object lives


def test_a_refused_start_leaves_no_folder(write, monkeypatch, tmp_path):
    monkeypatch.setenv("HPCLAB_NETNS", "off")
    monkeypatch.delenv(cluster.ALLOW_HOST_NETWORK, raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    with pytest.raises(RuntimeError, match=cluster.ALLOW_HOST_NETWORK):
        cluster.LocalCluster(write(QUICK), 2).start()
    assert [p.name for p in tmp_path.iterdir()] == ["worker.py"]


REAPED = """
    import json, os, signal, sys
    from hpclab import cluster
    work = cluster.TempDir("hpclab-test-")
    open(os.path.join(work, "checkpoint"), "w").close()
    print(json.dumps({"path": str(work)}), flush=True)
    if sys.argv[1] == "killed":
        os.kill(os.getpid(), signal.SIGKILL)  # no Python clean-up runs
"""


@pytest.mark.parametrize("how", ["exits", "killed"])
def test_temp_dir_disappears_with_its_process(write, how):
    proc = subprocess.run([sys.executable, str(write(REAPED)), how], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == (0 if how == "exits" else -signal.SIGKILL), proc.stderr
    path = json.loads(proc.stdout)["path"]
    assert gone(path, within_s=10), f"{path} left behind ({how})"
    assert not psutil.Process().children(recursive=True)


def test_temp_dir_remove():
    work = cluster.TempDir("hpclab-test-")
    assert os.path.isdir(work) and os.fspath(work) == str(work.path)
    work.remove()
    assert not work.path.exists()
    work.remove()  # twice is fine
