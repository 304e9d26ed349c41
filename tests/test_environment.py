"""environment.yml (conda, Binder) and pyproject.toml must pin the same packages."""

import pathlib
import re

import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _conda_env():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return python.split("=", 1)[1], pip


def _pyproject_pins(python_version):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + project["optional-dependencies"]["dev"]
    marker_env = dict(default_environment(), python_version=python_version,
                      python_full_version=python_version + ".0")
    pins = set()
    for text in reqs:
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate(marker_env):
            pins.add(f"{req.name}{req.specifier}")
    return pins, project["requires-python"]


def test_environment_yml_pins_match_pyproject():
    python, pip = _conda_env()
    pins, _ = _pyproject_pins(python)
    listed = {p for p in pip if not p.startswith("-e")}
    assert listed == pins, (
        f"only in environment.yml: {sorted(listed - pins)}; "
        f"only in pyproject.toml: {sorted(pins - listed)}"
    )
    assert any(re.fullmatch(r"-e \.(\[dev\])?", p) for p in pip), "environment.yml must install hpclab"


def test_environment_python_is_supported():
    python, _ = _conda_env()
    _, requires = _pyproject_pins(python)
    assert SpecifierSet(requires).contains(python + ".0"), (python, requires)


def test_every_dependency_is_pinned_exactly():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for text in project["dependencies"] + project["optional-dependencies"]["dev"]:
        spec = Requirement(text).specifier
        assert len(spec) == 1 and next(iter(spec)).operator == "==", f"pin {text!r} with =="
