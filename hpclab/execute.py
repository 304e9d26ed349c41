"""Run notebooks top to bottom: refresh stored outputs (`make execute`) or time them
(`make bench`). Plumbing for maintainers; no lesson lives here.

Stored outputs are kept lean and portable: stderr streams (TF log lines) are dropped,
error tracebacks are cut to their last line, and absolute paths and the host name are
replaced, so a notebook executed on one machine carries nothing of it.
"""

from __future__ import annotations

import pathlib
import re
import socket
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _scrub_text(text: str) -> str:
    for prefix, label in ((sys.prefix, "<venv>"), (str(ROOT), "."), (str(pathlib.Path.home()), "~")):
        text = text.replace(prefix, label)
    host = socket.gethostname()
    if host and len(host) > 3:
        text = text.replace(host, "<host>")
    return re.sub(r"/tmp/[A-Za-z0-9_.\-/]+", "<tmpdir>", text)


def clean_outputs(nb) -> None:
    """Make stored outputs lean and free of machine details (in place)."""
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        tags = [t for t in cell.metadata.get("tags", []) if t != "raises-exception"]
        if tags:
            cell.metadata["tags"] = tags
        else:
            cell.metadata.pop("tags", None)
        if cell.cell_type != "code":
            continue
        kept = []
        for out in cell.outputs:
            if out.output_type == "stream" and out.name == "stderr":
                continue
            if out.output_type == "stream":
                out.text = _scrub_text(out.text)
            elif out.output_type == "error":
                out.traceback = [f"{out.ename}: {_scrub_text(out.evalue)}"]
                out.evalue = _scrub_text(out.evalue)
            elif "data" in out:
                for mime in ("text/plain", "text/html", "text/markdown"):
                    if mime in out.data:
                        out.data[mime] = _scrub_text(out.data[mime])
            kept.append(out)
        cell.outputs = kept
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}


def execute(path, *, write: bool = True, timeout_s: int = 600) -> float:
    """Execute one notebook in its own folder; return wall seconds (kernel start included)."""
    import nbformat
    from nbclient import NotebookClient

    path = pathlib.Path(path)
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:  # nbclient stops at an error unless the cell is tagged for it
        if cell.cell_type == "code" and "NBVAL_RAISES_EXCEPTION" in cell.source:
            cell.metadata.setdefault("tags", []).append("raises-exception")
    client = NotebookClient(
        nb,
        timeout=timeout_s,
        startup_timeout=180,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    if write:
        clean_outputs(nb)
        nbformat.write(nb, path)
        _normalize(path)
    return seconds


def _normalize(path: pathlib.Path) -> None:
    """Normalize the JSON with tensorflow_docs' nbfmt (the TF docs' formatter)."""
    import subprocess

    subprocess.run([sys.executable, "-m", "tensorflow_docs.tools.nbfmt", str(path)],
                   check=True, capture_output=True)


def _check(paths, bench) -> str | None:
    """The one-line reason the arguments are wrong, or None."""
    import nbformat

    if bench is not None and pathlib.Path(bench).suffix == ".ipynb":
        return (f"--bench takes the table file to write, not a notebook: {bench}; e.g. "
                "hpclab execute --bench notebooks/TIMINGS.md NOTEBOOK...")
    for path in paths:
        if not path.is_file():
            return f"no such notebook: {path}"
        try:
            nbformat.read(path, as_version=4)
        except Exception as err:  # not JSON, or JSON that is not a notebook
            return f"not a notebook: {path} ({type(err).__name__}); hpclab execute runs .ipynb files"
    return None


def main(notebooks: list[str], *, bench: str | None = None) -> int:
    """`hpclab execute [--bench FILE] [NOTEBOOK...]`: run in place, or time into FILE."""
    paths = [pathlib.Path(p) for p in notebooks] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    error = _check(paths, bench)
    if error:
        print(f"hpclab execute: {error}", file=sys.stderr)
        return 2
    rows = []
    for i, path in enumerate(paths, 1):
        seconds = execute(path, write=bench is None)
        rows.append((path.name, seconds))
        print(f"[{i}/{len(paths)}] {path.name:<45}{seconds:7.1f} s", flush=True)
    if bench:
        _write_bench(pathlib.Path(bench), rows)
    return 0


def budget(name: str) -> int:
    """Seconds a notebook may take on a 2-core CPU (DEVELOPERS.md): 60, multi-worker 90."""
    return 90 if "multi_worker" in name else 60


def _write_bench(path: pathlib.Path, rows) -> None:
    import platform

    import psutil

    total = sum(s for _, s in rows)
    lines = [
        "# Notebook timings",
        "",
        f"Measured by `make bench` on {time.strftime('%Y-%m-%d')}: {psutil.cpu_count()} CPU cores, "
        f"Python {platform.python_version()}, {platform.machine()}.",
        "Wall time per notebook, kernel start included. A benchmark, not a test:",
        "the target is 60 s per notebook (90 s for 06_multi_worker).",
        "",
        "| notebook | seconds | budget | within |",
        "|---|---:|---:|---|",
        *[f"| {name} | {seconds:.1f} | {budget(name)} | {'yes' if seconds <= budget(name) else 'NO'} |"
          for name, seconds in rows],
        f"| **total** | **{total:.1f}** | 300 | {'yes' if total <= 300 else 'NO'} |",
        "",
    ]
    path.write_text("\n".join(lines))
    print(f"{'total':<45}{total:7.1f} s\nwrote {path}")
