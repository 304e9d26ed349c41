"""Stored notebooks must come from a real top-to-bottom run and carry nothing of a machine."""

import ast
import json
import pathlib
import re
import socket
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ABSOLUTE_PATH = re.compile(r"(?<![\w.<>~])/(root|home|tmp|work|Users|opt|usr|var|mnt)/[\w.\-]+"
                           r"|[A-Za-z]:\\\\[\w.\-]+")


# Facts that differ between the machines the README promises (a laptop, a 1-GPU box, a TPU VM):
# device names, device or replica counts, strategy names. Checked outputs must not print them.
MACHINE_FACTS = re.compile(
    r"/device:|\b(?:CPU|GPU|TPU):\d|\breplicas?\b|Strategy\b|\blogical (?:CPU|GPU|TPU|device)s?\b"
    r"|\bphysical (?:CPU|GPU|TPU|device)s?\b",
    re.IGNORECASE,
)


def _cells(nb_path):
    return json.loads(nb_path.read_text())["cells"]


def _code_cells(nb_path):
    return [c for c in _cells(nb_path) if c["cell_type"] == "code" and "".join(c["source"]).strip()]


def _python_source(cell):
    """Cell source with IPython magics and shell escapes blanked out, for ast.parse."""
    lines = "".join(cell["source"]).splitlines()
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in lines)


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ has no .ipynb files"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_executed_top_to_bottom(nb_path):
    counts = [c.get("execution_count") for c in _code_cells(nb_path)]
    assert counts == list(range(1, len(counts) + 1)), (
        f"execution counts {counts}: run `make execute NB={nb_path.relative_to(ROOT)}`"
    )


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_errors_only_where_expected(nb_path):
    for cell in _code_cells(nb_path):
        expects_error = "NBVAL_RAISES_EXCEPTION" in "".join(cell["source"])
        has_error = any(o["output_type"] == "error" for o in cell.get("outputs", []))
        assert has_error == expects_error, (
            f"cell {''.join(cell['source'])[:80]!r}: stored error={has_error}, "
            f"marked NBVAL_RAISES_EXCEPTION={expects_error}"
        )


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_outputs_carry_no_paths_or_hostname(nb_path):
    text = json.dumps([c.get("outputs", []) for c in _code_cells(nb_path)])
    match = ABSOLUTE_PATH.search(text)
    assert match is None, f"absolute path in stored outputs: {match.group(0)!r}"
    host = socket.gethostname()
    assert len(host) < 4 or host not in text, "host name in stored outputs"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_kernelspec_is_python3(nb_path):
    meta = json.loads(nb_path.read_text())["metadata"]
    assert meta.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_has_assertions_that_can_fail(nb_path):
    asserts = [
        node
        for cell in _code_cells(nb_path)
        for node in ast.walk(ast.parse(_python_source(cell)))
        if isinstance(node, ast.Assert)
    ]
    assert asserts, "no assertion cell proves the lesson's claim"
    constant = [ast.unparse(a) for a in asserts if isinstance(a.test, ast.Constant)]
    assert not constant, f"assertions that cannot fail: {constant}"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_checked_outputs_are_stored(nb_path):
    for cell in _code_cells(nb_path):
        if "NBVAL_CHECK_OUTPUT" in "".join(cell["source"]):
            assert cell.get("outputs"), "a # NBVAL_CHECK_OUTPUT cell with no stored output checks nothing"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_checked_outputs_hold_on_every_machine(nb_path):
    for cell in _code_cells(nb_path):
        if "NBVAL_CHECK_OUTPUT" not in "".join(cell["source"]):
            continue
        text = "".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
                       for o in cell.get("outputs", []))
        match = MACHINE_FACTS.search(text)
        assert match is None, (
            f"# NBVAL_CHECK_OUTPUT cell {''.join(cell['source'])[:60]!r} prints {match.group(0)!r}: "
            "device names, device or replica counts and strategies differ on a 1-GPU box or a TPU VM. "
            "Print only facts that hold on every machine, or assert instead (CONTRIBUTING.md)"
        )


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_follows_the_lesson_anatomy(nb_path):
    markdown = "\n".join("".join(c["source"]) for c in _cells(nb_path) if c["cell_type"] == "markdown")
    assert markdown.lstrip().startswith("# "), "start with one H1 title"
    for part in ("**Runs on:**", "## Exercises", "## Summary", "On real hardware"):
        assert part in markdown, f"missing {part!r} (see CONTRIBUTING.md: notebook anatomy)"


def test_json_is_normalized_by_nbfmt():
    pytest.importorskip("tensorflow_docs")
    result = subprocess.run(
        [sys.executable, "-m", "tensorflow_docs.tools.nbfmt", "--test", *map(str, NOTEBOOKS)],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, f"run `make execute` or nbfmt:\n{result.stdout}{result.stderr}"
