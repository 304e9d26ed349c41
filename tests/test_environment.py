"""environment.yml (conda, Binder) and pyproject.toml must pin the same packages on every Python."""

import pathlib
import re

import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
EXTRAS = ("test", "lab", "class", "dev")  # what `make` installs


def _project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _conda_env():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return python.split("=", 1)[1], pip


def _pins(requirements, python_version):
    """The pins that apply on one Python version (environment markers evaluated)."""
    marker_env = dict(default_environment(), python_version=python_version,
                      python_full_version=python_version + ".0")
    pins = set()
    for text in requirements:
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate(marker_env):
            pins.add(f"{req.name}{req.specifier}")
    return pins


def _pyproject_requirements():
    project = _project()
    return project["dependencies"] + [r for e in EXTRAS for r in project["optional-dependencies"][e]]


@pytest.mark.parametrize("python", PYTHONS)
def test_environment_yml_pins_match_pyproject(python):
    _, pip = _conda_env()
    listed = _pins([p for p in pip if not p.startswith("-e")], python)
    pins = _pins(_pyproject_requirements(), python)
    assert listed == pins, (
        f"Python {python}: only in environment.yml: {sorted(listed - pins)}; "
        f"only in pyproject.toml: {sorted(pins - listed)}"
    )
    assert any(re.fullmatch(r"-e \.(\[[\w,]+\])?", p) for p in pip), "environment.yml must install hpclab"


@pytest.mark.parametrize("python", PYTHONS)
def test_every_python_we_promise_is_allowed(python):
    assert SpecifierSet(_project()["requires-python"]).contains(python + ".0")


def test_environment_python_is_supported():
    python, _ = _conda_env()
    assert python in PYTHONS, f"environment.yml asks for Python {python}; the kit supports {PYTHONS}"


def test_every_dependency_is_pinned_exactly():
    for text in _pyproject_requirements():
        spec = Requirement(text).specifier
        assert len(spec) == 1 and next(iter(spec)).operator == "==", f"pin {text!r} with =="


def test_library_install_needs_no_test_or_lab_tools():
    """`pip install hpclab` is a library: pytest, nbval and JupyterLab come only with extras."""
    names = {Requirement(r).name for r in _project()["dependencies"]}
    assert not names & {"pytest", "pytest-xdist", "nbval", "jupyterlab", "ruff"}, names


def test_version_has_one_source():
    project = _project()
    assert "version" not in project and "version" in project.get("dynamic", []), (
        "the version lives in hpclab/__init__.py only")
    init = (ROOT / "hpclab" / "__init__.py").read_text()
    assert re.search(r'^__version__ = "\d+\.\d+\.\d+"$', init, re.M), "hpclab.__version__ missing"
