import pytest

from hpclab import strategy
from helpers import run_python


def test_unknown_kind_lists_the_choices():
    with pytest.raises(ValueError, match="kind must be one of 'auto', 'tpu', 'mirrored'"):
        strategy.resolve("gpu")


def test_explicit_kinds_fail_clearly_and_auto_falls_back():
    result = run_python("""
        import json, os, pytest
        from hpclab import strategy
        from hpclab.strategy import StrategyUnavailable, resolve
        with pytest.raises(StrategyUnavailable, match="no TPU is reachable"):
            resolve("tpu")
        with pytest.raises(StrategyUnavailable, match="no TPU is reachable"):
            resolve("tpu", tpu="no-such-tpu-name")   # the name lookup fails: no hang, no URLError
        s, reason = resolve("auto", tpu="no-such-tpu-name")
        assert reason.startswith("default strategy"), reason
        with pytest.raises(StrategyUnavailable, match="needs more than one device"):
            resolve("mirrored")
        with pytest.raises(StrategyUnavailable, match="multi_worker needs TF_CONFIG"):
            resolve("multi_worker")
        os.environ["TF_CONFIG"] = "{not json"
        with pytest.raises(StrategyUnavailable, match="TF_CONFIG must be JSON"):
            resolve("multi_worker")
        cluster = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
        for task in ({"type": "worker", "index": 2}, {"type": "chief", "index": 0},
                     {"type": "worker", "index": "0"}):  # none of them would ever start
            os.environ["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": task})
            with pytest.raises(StrategyUnavailable, match="TF_CONFIG must be JSON like"):
                resolve("multi_worker")
        del os.environ["TF_CONFIG"]
        s, reason = resolve("auto")
        assert s.num_replicas_in_sync == 1 and reason.startswith("default strategy"), reason
        s, reason = resolve("default")
        assert s.num_replicas_in_sync == 1
        print("ok")
    """)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")


def test_auto_mirrors_over_logical_cpus():
    result = run_python("""
        from hpclab import devices, strategy
        devices.configure(logical_cpus=2)
        s, reason = strategy.resolve()
        assert type(s).__name__ == "MirroredStrategy", type(s)
        assert s.num_replicas_in_sync == 2 and "2 logical CPU devices" in reason, reason
        print("ok")
    """)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
