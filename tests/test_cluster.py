"""hpclab.cluster: bad inputs fail clearly, and no worker process outlives its launcher.

The workers here are tiny Python scripts, not TensorFlow: each test takes seconds.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import psutil
import pytest

from hpclab import cluster
from helpers import alive

pytestmark = pytest.mark.serial  # waits for processes to start and die: `make test` runs these alone

SLEEPER = """
    import json, os, subprocess, sys, time
    task = json.loads(os.environ["TF_CONFIG"])["task"]
    child = subprocess.Popen(["sleep", "60"])  # a grandchild: must die with its worker
    print(json.dumps({"worker": task["index"], "event": "up", "child": child.pid}), flush=True)
    time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 60)
"""

SERVER = """
    import json, os, socket, time
    cfg = json.loads(os.environ["TF_CONFIG"])
    i = cfg["task"]["index"]
    port = int(cfg["cluster"]["worker"][i].rsplit(":", 1)[1])
    server = socket.socket(socket.AF_INET6)
    server.bind(("::", port))  # every interface, as TensorFlow's gRPC server does
    server.listen()
    print(json.dumps({"worker": i, "event": "listening", "port": port}), flush=True)
    if i == 1:  # reach worker 0 over loopback: both must share one network
        host, p = cfg["cluster"]["worker"][0].rsplit(":", 1)
        for _ in range(100):
            try:
                socket.create_connection((host, int(p)), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        print(json.dumps({"worker": i, "event": "connected"}), flush=True)
    time.sleep(30)
"""

DIES_AT_STARTUP = """
    import json, os, time
    if json.loads(os.environ["TF_CONFIG"])["task"]["index"] == 1:
        raise RuntimeError("no training data on this worker")
    time.sleep(60)
"""


def assert_all_gone(pids, within_s=0.0):
    deadline = time.monotonic() + within_s
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in pids if alive(p)], f"processes left behind: {pids}"


def assert_gone(path, within_s=0.0):
    deadline = time.monotonic() + within_s
    while os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(path), f"left behind: {path}"


def assert_no_children():
    children = psutil.Process().children(recursive=True)
    assert not children, f"child processes left behind: {children}"


# -- bad inputs: a clear error, nothing started --------------------------------------------
@pytest.mark.parametrize("n, error", [(0, ValueError), (-1, ValueError), (1.5, TypeError),
                                      (True, TypeError), ("2", TypeError)])
def test_zero_workers_is_refused(write, n, error):
    with pytest.raises(error, match="num_workers must be an integer >= 1, e.g. num_workers=2"):
        cluster.LocalCluster(write(SLEEPER), num_workers=n)
    assert_no_children()


def test_a_port_in_use_is_refused(write):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        free = cluster.free_ports(1)[0]
        with pytest.raises(ValueError, match=f"port {port} on 127.0.0.1 is in use.*ports=None"):
            cluster.LocalCluster(write(SLEEPER), 2, ports=[free, port]).start()
    with pytest.raises(ValueError, match="2 distinct port numbers"):
        cluster.LocalCluster(write(SLEEPER), 2, ports=[free, free])
    assert_no_children()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "10.0.0.1", "::1",
                                  "no-such-host.invalid", "example.com"])
def test_non_loopback_or_unknown_hosts_are_refused(write, host):
    with pytest.raises(ValueError, match="host must be an IPv4 loopback address"):
        cluster.LocalCluster(write(SLEEPER), 2, host=host)
    with pytest.raises(ValueError, match="loopback"):
        cluster.free_ports(1, host=host)
    assert_no_children()


def test_missing_script_and_bad_isolate_are_refused(tmp_path, write):
    with pytest.raises(ValueError, match="script not found"):
        cluster.LocalCluster(tmp_path / "nope.py", 2)
    with pytest.raises(ValueError, match="isolate must be one of 'auto', True, False"):
        cluster.LocalCluster(write(SLEEPER), 2, isolate="yes")
    with pytest.raises(TypeError, match="isolate must be one of 'auto', True, False; got 1"):
        cluster.LocalCluster(write(SLEEPER), 2, isolate=1)


@pytest.mark.parametrize("env", ["A=1", {"A": 1}, [{"A": "1"}, "B=2"], {1: "x"}])
def test_env_must_be_dicts_of_strings(write, env):
    with pytest.raises(TypeError, match=r"env must be a dict of strings such as .* or a list "
                                        r"of 2 such dicts"):
        cluster.LocalCluster(write(SLEEPER), 2, env=env)


@pytest.mark.parametrize("args", ["ckpt 5", b"ckpt", 5, {"ckpt": 5}])
def test_args_must_be_a_list(write, args):
    with pytest.raises(TypeError, match=r"args must be a list of command-line arguments, "
                                        r"e.g. args=\['ckpt', 5\]"):
        cluster.LocalCluster(write(SLEEPER), 2, args=args)


def test_kill_a_worker_that_does_not_exist(write):
    job = cluster.LocalCluster(write(SLEEPER), 2)
    with pytest.raises(RuntimeError, match="has not started: use `with LocalCluster"):
        job.kill(0)
    with job:
        with pytest.raises(ValueError, match="index must be an integer >= 0 and <= 1"):
            job.kill(5)
        with pytest.raises(TypeError, match="index must be an integer"):
            job.kill("1")
        with pytest.raises(ValueError, match="index must be an integer >= 0 and <= 1"):
            job.wait_for(2, "up", timeout=1)
        job.kill(np.int64(1))  # NumPy integers are integers
        assert job.exit_codes()[1] == -signal.SIGKILL
    assert_all_gone(job.pids)
    assert_no_children()


def test_a_worker_dying_at_startup_stops_the_job(write):
    job = cluster.LocalCluster(write(DIES_AT_STARTUP), 2)
    with pytest.raises(cluster.WorkerFailed,
                       match="worker 1 exited with code 1: RuntimeError: no training data"):
        with job:
            job.wait(timeout=30)
    assert job.exit_codes()[0] is not None, "worker 0 was left running"
    assert_all_gone(job.pids)
    assert_no_children()


# -- normal operation ----------------------------------------------------------------------
def test_each_worker_gets_its_tf_config_and_log(write):
    script = write("""
        import os, sys
        print(os.environ["TF_CONFIG"], flush=True)
        print("args", *sys.argv[1:], flush=True)
    """)
    with cluster.LocalCluster(script, 3, args=["a", 7]) as job:
        codes = job.wait(timeout=30)
    assert codes == {0: 0, 1: 0, 2: 0}
    configs = job.records()
    assert [c["task"] for c in configs] == [{"type": "worker", "index": i} for i in range(3)]
    workers = configs[0]["cluster"]["worker"]
    assert all(c["cluster"]["worker"] == workers for c in configs)
    assert len(set(workers)) == 3 and all(w.startswith("127.0.0.1:") for w in workers)
    assert "args a 7" in job.log(2)
    assert_no_children()


def test_env_for_all_or_each_worker(write):
    script = write("""
        import json, os
        print(json.dumps({"color": os.environ.get("COLOR"), "shared": os.environ.get("SHARED")}))
    """)
    with cluster.LocalCluster(script, 2, env=[{"COLOR": "red"}, {"COLOR": "blue"}]) as job:
        job.wait(timeout=30)
    assert [r["color"] for r in job.records()] == ["red", "blue"]
    with cluster.LocalCluster(script, 2, env={"SHARED": "yes"}) as job:
        job.wait(timeout=30)
    assert [r["shared"] for r in job.records()] == ["yes", "yes"]
    with pytest.raises(ValueError, match="a list of 2 such dicts .*; got a list of 1"):
        cluster.LocalCluster(script, 2, env=[{"COLOR": "red"}])
    with pytest.raises(RuntimeError, match="already started"):
        job.start()
    assert_no_children()


def test_kill_one_worker_then_stop(write):
    with cluster.LocalCluster(write(SLEEPER), 2) as job:
        up = [job.wait_for(i, {"event": "up"}, timeout=30) for i in range(2)]
        job.kill(1)
        codes = job.exit_codes()
        assert codes[1] == -signal.SIGKILL and codes[0] is None
        assert_all_gone([up[1]["child"]], within_s=5)  # the whole group died
    # stop() waited for each group's leader; a child dies of its SIGKILL a moment later
    assert_all_gone(job.pids + [u["child"] for u in up], within_s=5)
    assert_no_children()


def test_wait_for_times_out_and_stops_the_job(write):
    job = cluster.LocalCluster(write(SLEEPER), 2)
    with pytest.raises(TimeoutError, match="did not log 'never'"):
        with job:
            job.wait_for(0, "never", timeout=1)
    assert_all_gone(job.pids)


def test_workers_listen_on_loopback_only(write):
    with cluster.LocalCluster(write(SERVER), 2) as job:
        job.wait_for(1, {"event": "connected"}, timeout=30)
        sockets = job.sockets()
        network = job.network
    if not network.startswith("private"):
        pytest.skip(f"no private network namespace here: {network}")
    assert sorted(s["worker"] for s in sockets) == [0, 1], sockets  # one socket each
    for s in sockets:
        assert s["address"] == "::" and s["interfaces"] == "lo", s
    assert_no_children()


def test_isolate_false_uses_the_host_network(write):
    with cluster.LocalCluster(write(SERVER), 2, isolate=False) as job:
        job.wait_for(1, {"event": "connected"}, timeout=30)
        sockets = job.sockets()
    assert job.network == "host network (isolate=False)"
    if sys.platform.startswith("linux"):
        host_interfaces = ",".join(sorted(psutil.net_if_addrs()))
        assert len(sockets) == 2, sockets  # one listening socket per worker
        assert all(s["interfaces"] == host_interfaces for s in sockets), sockets
    assert_no_children()


def test_without_namespaces_the_host_network_needs_consent(write, monkeypatch):
    monkeypatch.setenv("HPCLAB_NETNS", "off")  # as on macOS or in a locked-down container
    monkeypatch.delenv(cluster.ALLOW_HOST_NETWORK, raising=False)
    assert cluster.why_no_private_network() == "disabled by HPCLAB_NETNS=off"
    job = cluster.LocalCluster(write(SERVER), 2)
    with pytest.raises(RuntimeError, match=r"no private network namespace here .* every "
                       r"interface .* no authentication.* isolate=False\) or with "
                       r"HPCLAB_ALLOW_HOST_NETWORK=1 in the environment"):
        job.start()
    assert job.pids == [] and job.log_dir is None  # refused before anything started
    monkeypatch.setenv(cluster.ALLOW_HOST_NETWORK, "0")
    with pytest.raises(RuntimeError, match="HPCLAB_ALLOW_HOST_NETWORK=1"):
        cluster.LocalCluster(write(SERVER), 2).start()
    monkeypatch.setenv(cluster.ALLOW_HOST_NETWORK, "1")  # consent
    with cluster.LocalCluster(write(SERVER), 2) as job:
        job.wait_for(1, {"event": "connected"}, timeout=30)
    assert job.network == ("host network (HPCLAB_ALLOW_HOST_NETWORK=1; no private namespace: "
                           "disabled by HPCLAB_NETNS=off)")
    with pytest.raises(RuntimeError, match="isolate=True needs Linux network namespaces"):
        cluster.LocalCluster(write(SERVER), 2, isolate=True).start()
    assert_no_children()


# -- no worker outlives its notebook or its test -------------------------------------------
LAUNCHER = """
    import json, os, signal, sys, time
    from hpclab import cluster
    # Ctrl-C raises KeyboardInterrupt, as in a notebook kernel, also when the test runs as a
    # background job of a script (which starts with SIGINT ignored, and so would this process)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    mode = sys.argv[2]
    job = cluster.LocalCluster(sys.argv[1], 2)
    if mode == "dies at once":        # OOM-killed right after start: the workers are not up yet
        job.start()
        print(json.dumps({"pids": job.pids, "children": [], "log_dir": str(job.log_dir)}),
              flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "forgotten":           # started, never stopped: the exit clean-up must do it
        job.start()
        ups = [job.wait_for(i, {"event": "up"}, timeout=30) for i in range(2)]
        print(json.dumps({"pids": job.pids, "children": [u["child"] for u in ups],
                          "log_dir": str(job.log_dir)}), flush=True)
        sys.stdin.readline()          # the test has seen every worker alive
        sys.exit(0)
    with job:
        ups = [job.wait_for(i, {"event": "up"}, timeout=30) for i in range(2)]
        print(json.dumps({"pids": job.pids, "children": [u["child"] for u in ups],
                          "log_dir": str(job.log_dir)}), flush=True)
        if mode != "cell fails":
            time.sleep(60)            # killed or interrupted while waiting here
        sys.stdin.readline()          # the test has seen every worker alive
        raise ValueError("a bug in the notebook cell")
"""


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM", "SIGINT", "cell fails", "forgotten",
                                 "dies at once"])
def test_no_worker_outlives_its_launcher(write, how):
    sleeper, launcher = write(SLEEPER, "sleeper.py"), write(LAUNCHER, "launcher.py")
    proc = subprocess.Popen([sys.executable, str(launcher), str(sleeper), how],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        started = json.loads(proc.stdout.readline())
        pids = started["pids"] + started["children"]
        assert len(pids) >= 2 + len(started["children"]), started
        assert os.path.isdir(started["log_dir"]) or how == "dies at once"
        if how == "dies at once":
            assert len(started["pids"]) >= 2  # started, maybe not yet running Python
        else:
            assert len(pids) >= 4 and all(alive(p) for p in pids)
        if how.startswith("SIG"):
            proc.send_signal(getattr(signal, how))  # SIGKILL/SIGTERM: no Python clean-up runs
        elif how != "dies at once":
            proc.stdin.write("go\n")                 # now the cell fails / the script ends
            proc.stdin.flush()
        proc.wait(timeout=30)
        assert_all_gone(pids, within_s=10)           # the workers' launcher watchdog
        assert_gone(started["log_dir"], within_s=10)  # the automatic log folder too
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert_no_children()


# -- a real cluster ------------------------------------------------------------------------
def test_tf_config_and_slurm_script(tmp_path):
    config = json.loads(cluster.tf_config(["a:1", "b:2"], 1))
    assert config == {"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}
    assert json.loads(cluster.tf_config(("a:1", "b:2"), np.int64(0)))["task"]["index"] == 0
    with pytest.raises(ValueError, match="index must be an integer >= 0 and <= 0"):
        cluster.tf_config(["a:1"], 1)
    text = cluster.slurm_script("train.py", args=["ckpt", 5], nodes=4, gpus_per_node=8)
    assert "#SBATCH --nodes=4" in text and "#SBATCH --gres=gpu:8" in text
    assert "srun python train.py ckpt 5" in text
    path = tmp_path / "job.sbatch"
    path.write_text(text)
    assert subprocess.run(["bash", "-n", str(path)]).returncode == 0
    with pytest.raises(ValueError, match="nodes must be an integer >= 1"):
        cluster.slurm_script("train.py", nodes=0)


@pytest.mark.parametrize("workers, index", [("127.0.0.1:20000", 0), (["a:1", 2], 0),
                                            (["a:1", "b:2"], True), (["a:1", "b:2"], 1.0)])
def test_tf_config_refuses_a_string_or_a_bool(workers, index):
    # a string would be split into characters, True would be written as "index": true
    with pytest.raises(TypeError, match=r"workers must be a list of 'host:port' strings, e.g. "
                                        r"\['127.0.0.1:20000'|index must be an integer"):
        cluster.tf_config(workers, index)


def test_slurm_script_quotes_every_word_and_refuses_line_breaks(tmp_path):
    args = ["my ckpt", "$(touch pwned)", "a;b", "it's", 5]
    text = cluster.slurm_script("train worker.py", args=args, job_name="my job")
    srun = next(line for line in text.splitlines() if line.startswith("srun "))
    shown = subprocess.run(["bash", "-c", 'srun() { printf "%s\\n" "$@"; }; ' + srun],
                           capture_output=True, text=True, cwd=tmp_path)
    assert shown.stdout.splitlines() == ["python", "train worker.py", *map(str, args)]
    assert not (tmp_path / "pwned").exists()
    assert "#SBATCH --job-name='my job'" in text
    for bad in [dict(job_name="x\nrm -rf ~"), dict(time_limit="1:00\ntouch pwned"),
                dict(args=["a\nb"])]:
        with pytest.raises(ValueError, match="no line breaks: one would add a command"):
            cluster.slurm_script("train.py", **bad)
    with pytest.raises(TypeError, match="args must be a list"):
        cluster.slurm_script("train.py", args="ckpt 5")


def test_running_workers_are_reported_by_pid(write):
    with cluster.LocalCluster(write(SLEEPER), 2) as job:
        job.wait_for(0, {"event": "up"}, timeout=30)
        assert all(alive(p) for p in job.pids)
        assert os.getpid() not in job.pids
    assert_all_gone(job.pids)
