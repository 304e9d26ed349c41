"""The `hpclab` command: argparse subcommands, the Makefile's two forms, and clear errors."""

import subprocess
import sys

import nbformat
import pytest

from hpclab import cli, doctor, execute


def _notebook(path, source="print(6 * 7)"):
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)]), path)
    return path


@pytest.mark.parametrize("argv", [[], ["--help"], ["doctor", "--help"], ["execute", "--help"]])
def test_help_helps_and_runs_nothing(argv, capsys, monkeypatch):
    monkeypatch.setattr(doctor, "run_probes", lambda *a, **k: pytest.fail("--help ran the probes"))
    monkeypatch.setattr(execute, "execute", lambda *a, **k: pytest.fail("--help ran a notebook"))
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: hpclab")
    assert {"doctor": "--timeout", "execute": "--bench"}.get(argv[0] if argv else "", "execute") in out


def test_unknown_commands_and_bad_timeouts_fail_with_usage(capsys, monkeypatch):
    monkeypatch.setattr(doctor, "run_probes", lambda *a, **k: pytest.fail("ran the probes"))
    assert cli.main(["doctr"]) == 2
    assert "invalid choice: 'doctr'" in capsys.readouterr().err
    for bad in ("0", "-5", "soon", "nan"):
        assert cli.main(["doctor", "--timeout", bad]) == 2
        assert "--timeout" in capsys.readouterr().err


def test_doctor_timeout_reaches_the_probes(monkeypatch, capsys):
    seen = []
    monkeypatch.setattr(doctor, "run_probes", lambda timeout_s: seen.append(timeout_s) or {})
    assert cli.main(["doctor", "--timeout", "300"]) == 0 and seen == [300.0]
    assert cli.main(["doctor"]) == 0 and seen[-1] == 90.0
    assert "TensorFlow: FAILED" in capsys.readouterr().out


def test_the_makefile_forms_execute_and_bench(tmp_path, monkeypatch, capsys):
    """`hpclab execute $(NB)` and `hpclab execute --bench notebooks/TIMINGS.md $(NB)`."""
    calls = []
    monkeypatch.setattr(execute, "execute", lambda path, write: calls.append((path.name, write)) or 1.5)
    a, b = _notebook(tmp_path / "a.ipynb"), _notebook(tmp_path / "b.ipynb")
    assert cli.main(["execute", str(a), str(b)]) == 0
    assert calls == [("a.ipynb", True), ("b.ipynb", True)]
    assert "[2/2] b.ipynb" in capsys.readouterr().out  # progress over many notebooks
    calls.clear()
    table = tmp_path / "TIMINGS.md"
    assert cli.main(["execute", "--bench", str(table), str(a), str(b)]) == 0
    assert calls == [("a.ipynb", False), ("b.ipynb", False)]  # timed, never rewritten
    assert "| a.ipynb | 1.5 | 60 | yes |" in table.read_text()


def test_bench_never_overwrites_a_notebook(tmp_path, monkeypatch, capsys):
    """`hpclab execute --bench NB.ipynb` once took the notebook as the table file."""
    monkeypatch.setattr(execute, "execute", lambda path, write: 1.0)
    nb = _notebook(tmp_path / "00.ipynb")
    before = nb.read_bytes()
    assert cli.main(["execute", "--bench", str(nb), str(nb)]) == 2
    err = capsys.readouterr().err
    assert "--bench takes the table file to write" in err and len(err.strip().splitlines()) == 1
    assert nb.read_bytes() == before


@pytest.mark.parametrize("name, content", [("README.md", "# not a notebook\n"), ("bad.ipynb", "{oops")])
def test_execute_a_non_notebook_is_a_one_line_error(tmp_path, capsys, name, content):
    path = tmp_path / name
    path.write_text(content)
    assert cli.main(["execute", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a notebook" in err and name in err
    assert cli.main(["execute", str(tmp_path / "missing.ipynb")]) == 2
    assert "no such notebook" in capsys.readouterr().err


def test_hpclab_execute_end_to_end(tmp_path):
    """A real kernel runs the notebook; outputs are stored in place."""
    nb = _notebook(tmp_path / "tiny.ipynb")
    result = subprocess.run([sys.executable, "-m", "hpclab.cli", "execute", str(nb)],
                            capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-2000:]
    outputs = nbformat.read(nb, as_version=4).cells[0].outputs
    assert outputs[0]["text"] == "42\n"
