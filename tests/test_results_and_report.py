import json

import pytest

from hpclab import report, results
from helpers import run_python

LAPTOP = {"cpu_model": "AMD EPYC", "cpu_cores": 2, "kernel_path": "Eigen", "accelerators": [],
          "os": "Linux x86_64", "python": "3.11.7", "tensorflow": "2.21.0", "keras": "3.15.1",
          "hpclab": "0.1.0"}
GPU_NODE = dict(LAPTOP, cpu_model="Intel Xeon", cpu_cores=32, kernel_path="oneDNN",
                accelerators=["GPU: NVIDIA A100"])


def test_record_writes_one_file_per_machine_and_replaces_a_rerun(tmp_path):
    path = results.record("4", "examples/s, 2 replicas", 1000, "examples/s", machine=LAPTOP, folder=tmp_path)
    results.record(4, "examples/s, 2 replicas", 1200.5, "examples/s", machine=LAPTOP, folder=tmp_path)
    results.record("09", "sparsity", 0.85, "fraction", machine=LAPTOP, folder=tmp_path)
    other = results.record("04", "examples/s, 2 replicas", 9000, "examples/s", machine=GPU_NODE,
                           folder=tmp_path)
    assert path != other and sorted(tmp_path.glob("*.json")) == sorted([path, other])
    data = results.load(path)
    assert [(r["lesson"], r["name"], r["value"]) for r in data["results"]] == [
        ("04", "examples/s, 2 replicas", 1200.5), ("09", "sparsity", 0.85)]
    assert data["machine"] == LAPTOP


@pytest.mark.parametrize("kwargs, error, message", [
    ({"value": float("nan")}, ValueError, "value must be a finite number"),
    ({"value": "fast"}, TypeError, "value must be a finite number"),
    ({"unit": ""}, TypeError, "unit must be a non-empty string"),
    ({"lesson": None}, TypeError, "lesson must be the lesson's number"),
])
def test_record_bad_input_names_the_fix(tmp_path, kwargs, error, message):
    args = dict(lesson="04", name="x", value=1.0, unit="s") | kwargs
    with pytest.raises(error, match=message):
        results.record(**args, machine=LAPTOP, folder=tmp_path)
    assert list(tmp_path.glob("*.json")) == []  # nothing half-written


def test_report_compares_two_machines(tmp_path):
    for machine, rate in ((LAPTOP, 800.0), (GPU_NODE, 21000.0)):
        results.record("04", "examples/s, 2 replicas", rate, "examples/s", machine=machine, folder=tmp_path)
    results.record("09", "sparsity", 0.85, "fraction", machine=LAPTOP, folder=tmp_path)
    page, messages = report.build(sorted(tmp_path.glob("*.json")))
    assert messages == []
    assert "2 machine(s)" in page and "NVIDIA A100" in page and "AMD EPYC" in page
    assert "<td>800</td>" in page and "<td>2.1e+04</td>" in page and "<td>–</td>" in page  # 09: GPU missing
    assert page.count("data:image/png;base64,") == 2  # one figure per measured number, embedded
    frame = report.table(report.collect(sorted(tmp_path.glob("*.json")))[0])
    assert frame.shape == (2, 5)


def test_report_names_bad_and_mixed_version_files_and_never_crashes(tmp_path, capsys):
    good = results.record("04", "x", 1.0, "s", machine=LAPTOP, folder=tmp_path)
    newer = results.record("04", "x", 2.0, "s", machine=dict(LAPTOP, tensorflow="2.22.0"), folder=tmp_path)
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "other.json").write_text(json.dumps({"format": 99}))
    (tmp_path / "strings.json").write_text(json.dumps(
        {"format": 1, "machine": {}, "results": [{"lesson": "04", "name": "x", "value": "1", "unit": "s"}]}))
    files = [good, newer, tmp_path / "broken.json", tmp_path / "other.json", tmp_path / "strings.json",
             tmp_path / "missing.json"]
    out = tmp_path / "class.html"
    assert report.main(files, out) == 0
    err = capsys.readouterr().err
    assert "different tensorflow versions (2.21.0, 2.22.0)" in err
    assert "broken.json: not a JSON results file" in err
    assert "other.json: results format 99" in err and "record it again" in err
    assert "strings.json: result 0 needs lesson, name, a numeric value" in err
    assert "missing.json: no such file" in err
    assert "2 machine(s)" in out.read_text()


def test_report_with_nothing_readable_fails_clearly(tmp_path, capsys):
    (tmp_path / "a.json").write_text("[]")
    assert report.main([tmp_path / "a.json"], tmp_path / "r.html") == 2
    assert "no readable results file" in capsys.readouterr().err
    assert report.main([tmp_path / "a.json"], tmp_path / "r.ipynb") == 2
    assert not (tmp_path / "r.html").exists()


def test_fingerprint_of_this_machine_has_no_host_name():
    result = run_python("""
        import json, socket
        from hpclab import results
        machine = results.fingerprint()
        print(json.dumps(machine))
        print(socket.gethostname())
    """)
    assert result.returncode == 0, result.stderr[-2000:]
    text, host = result.stdout.strip().splitlines()[-2:]
    machine = json.loads(text)
    assert machine["kernel_path"] in ("oneDNN", "Eigen") and machine["cpu_cores"] >= 1
    assert machine["tensorflow"].startswith("2.") and (len(host) < 4 or host not in text)


def test_concurrent_records_lose_nothing(tmp_path):
    """Two notebooks of one machine (make test runs two at a time) record into the same file."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.starmap(_record_many, [(tmp_path, "a"), (tmp_path, "b")])
    (path,) = tmp_path.glob("*.json")
    assert len(results.load(path)["results"]) == 2 * 20


def _record_many(folder, prefix):
    for i in range(20):
        results.record("04", f"{prefix}{i}", float(i), "s", machine=LAPTOP, folder=folder)


def test_hpclab_report_command(tmp_path, capsys):
    from hpclab import cli

    results.record("04", "x", 1.0, "s", machine=LAPTOP, folder=tmp_path)
    results.record("04", "x", 3.0, "s", machine=GPU_NODE, folder=tmp_path)
    out = tmp_path / "class.html"
    assert cli.main(["report", *map(str, sorted(tmp_path.glob("*.json"))), "-o", str(out)]) == 0
    assert "2 machine(s)" in out.read_text() and f"wrote {out}" in capsys.readouterr().out
    assert cli.main(["report"]) == 2  # no files: usage
