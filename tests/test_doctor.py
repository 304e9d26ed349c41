import re
import subprocess
import sys

from hpclab import doctor


def test_a_hanging_probe_is_stopped_at_its_time_limit():
    results = doctor.run_probes(
        timeout_s=3, probes={"hang": "import time; time.sleep(60)", "fine": "print('{}')"}
    )
    assert results["hang"] == {"ok": False, "seconds": 3,
                               "error": "timed out after 3 s; busy machine? raise --timeout"}
    assert results["fine"]["ok"] and results["fine"]["result"] == {}


def test_a_probe_that_prints_no_json_is_a_failed_probe():
    results = doctor.run_probes(timeout_s=30, probes={"chatty": "print('hello, not JSON')"})
    assert results["chatty"]["ok"] is False
    assert results["chatty"]["error"] == "its last line is not JSON: 'hello, not JSON'"


def test_a_failing_probe_is_reported_not_raised():
    results = doctor.run_probes(timeout_s=30, probes={"broken": "import no_such_module_here"})
    assert not results["broken"]["ok"]
    assert "No module named 'no_such_module_here'" in results["broken"]["error"]


def test_report_says_what_is_missing():
    text = doctor.report({
        "tensorflow": {"ok": False, "error": "timed out after 90 s"},
        "tf_keras": {"ok": False, "error": "No module named 'tf_keras'"},
        "strategy": {"ok": True, "result": {"strategy": "TPUStrategy", "replicas": 8,
                                             "reason": "TPUStrategy: a TPU was found (8 cores)"}},
    })
    assert "TensorFlow: FAILED (timed out after 90 s)" in text
    assert "NOT AVAILABLE (No module named 'tf_keras')" in text
    assert "TPU reachable                  yes" in text


def test_hpclab_doctor_end_to_end():
    result = subprocess.run([sys.executable, "-m", "hpclab.cli", "doctor", "--timeout", "500"],
                            capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    for expected in ("tensorflow                     2.21", "keras", "physical CPU",
                     "ai_edge_litert                 ok", "tf_keras                       ok",
                     "tensorflow_model_optimization  ok", "strategy chosen"):
        assert expected in out, f"{expected!r} missing from:\n{out}"
    tpu = re.search(r"TPU reachable +(yes|no)\n +strategy chosen +(\w+)", out)
    assert tpu and (tpu[1] == "yes") == (tpu[2] == "TPUStrategy"), out  # a TPU VM says yes
