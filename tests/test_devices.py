import pytest

from hpclab import devices
from helpers import run_python


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"logical_cpus": 0}, ValueError, "logical_cpus must be an integer >= 1, e.g. logical_cpus=2"),
        ({"logical_cpus": -2}, ValueError, "logical_cpus must be an integer >= 1"),
        ({"logical_cpus": 2.5}, TypeError, "logical_cpus must be an integer >= 1"),
        ({"logical_cpus": "4"}, TypeError, "logical_cpus must be an integer >= 1"),
        ({"logical_cpus": True}, TypeError, "logical_cpus must be an integer >= 1"),
        ({"memory_limit_mb": -1}, ValueError, "memory_limit_mb must be an integer >= 1"),
        ({"memory_limit_mb": 0}, ValueError, "memory_limit_mb must be an integer >= 1"),
        ({"virtual_gpus": 0, "memory_limit_mb": 512}, ValueError, "virtual_gpus must be an integer >= 1"),
        ({"virtual_gpus": 2}, ValueError, "pass memory_limit_mb too"),
        ({"memory_growth": True, "memory_limit_mb": 512}, ValueError, "exclude each other"),
        ({"memory_growth": "yes"}, TypeError, "memory_growth must be True or False"),
    ],
)
def test_bad_input_names_the_fix(kwargs, error, message):
    with pytest.raises(error, match=message):
        devices.configure(**kwargs)


def test_importing_hpclab_does_not_start_tensorflow():
    result = run_python("""
        import importlib, pkgutil, sys
        import hpclab
        for module in pkgutil.iter_modules(hpclab.__path__):
            importlib.import_module(f"hpclab.{module.name}")
        print('tensorflow' in sys.modules, 'keras' in sys.modules)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False False"


def test_configure_splits_the_cpu_and_reruns_are_noops():
    result = run_python("""
        import pytest
        from hpclab import devices
        first = devices.configure(logical_cpus=3, memory_growth=True)
        assert first["logical"]["CPU"] == 3, first
        assert any("split" in a for a in first["actions"]), first
        assert any("no GPU found" in a for a in first["actions"]), first
        again = devices.configure(logical_cpus=3, memory_growth=True)
        assert again["logical"]["CPU"] == 3 and "nothing to do" in again["actions"][0], again
        with pytest.raises(RuntimeError, match="restart the kernel"):
            devices.configure(logical_cpus=2)
        inv = devices.inventory()
        assert (inv.query("kind == 'logical' and device_type == 'CPU'").shape[0]) == 3
        assert inv.query("kind == 'physical'").shape[0] >= 1
        print("ok")
    """)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")


def test_configure_after_tf_started_elsewhere_explains_the_restart():
    result = run_python("""
        import tensorflow as tf
        tf.constant(1.0) + 1.0          # the runtime starts with 1 CPU device
        from hpclab import devices
        try:
            devices.configure(logical_cpus=4)
        except RuntimeError as err:
            print(err)
    """)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "restart the kernel and run the setup cell first" in result.stdout


def test_build_info_has_versions():
    info = devices.build_info()
    for key in ("python", "tensorflow", "keras", "cuda", "cudnn", "cpu_logical_cores"):
        assert key in info
    assert info["tensorflow"].startswith("2.") and info["keras"].startswith("3.")
    assert info["cpu_logical_cores"] >= 1


@pytest.mark.parametrize("value, path", [("0", "Eigen"), ("1", "oneDNN")])
def test_kernel_path_follows_the_environment_variable(value, path):
    result = run_python("""
        from hpclab import devices
        info = devices.kernel_path()
        print(info["path"], "|", info["reason"])
    """, env={"TF_ENABLE_ONEDNN_OPTS": value})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == f"{path} | TF_ENABLE_ONEDNN_OPTS={value} chooses it"


def test_kernel_path_default_follows_the_cpu_flags():
    """Without the variable, oneDNN is on by default exactly when the CPU has a listed flag."""
    result = run_python("""
        import os
        os.environ.pop("TF_ENABLE_ONEDNN_OPTS", None)
        from hpclab import devices
        info = devices.kernel_path()
        print(info["path"], bool(info["cpu_flags"]))
    """)
    assert result.returncode == 0, result.stderr[-2000:]
    path, has_flags = result.stdout.split()
    assert (path == "oneDNN") == (has_flags == "True"), result.stdout
