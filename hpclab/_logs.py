"""The logs of a LocalCluster's workers: one file per worker, JSON records, error lines.

Taught in notebooks/06_multi_worker.ipynb: each worker prints one JSON line per event and
the launcher reads them back. The texts stay readable after the cluster stopped, also when
its automatic log folder was removed.
"""

from __future__ import annotations

import json
import pathlib
import re

from hpclab._procs import TempDir

_ERROR_LINE = re.compile(r"^([A-Za-z_][\w.]*(Error|Exception|Exit)|Killed|Aborted)\b.*")


class WorkerLogs:
    """``worker{i}.log`` in ``directory``; without one, in a TempDir that ``close`` removes
    (unless ``keep`` was set, e.g. because a worker failed and its log is worth reading)."""

    def __init__(self, num_workers: int, directory=None):
        self.num_workers = num_workers
        self.temp = None if directory is not None else TempDir("hpclab-cluster-")
        self.directory = pathlib.Path(directory if directory is not None else self.temp.path)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.keep = False
        self._files: list = []
        self._final: list[str] | None = None  # the texts, read when the workers stopped

    def open(self, index: int):
        f = open(self.directory / f"worker{index}.log", "w")  # noqa: SIM115 (closed in close)
        self._files.append(f)
        return f

    def close(self) -> None:
        """Close the files, keep their texts, and remove an automatic folder unless ``keep``."""
        for f in self._files:
            f.close()
        self._final = [self.text(i) for i in range(self.num_workers)]
        if self.temp is not None and not self.keep:
            self.temp.remove()

    @property
    def automatic(self) -> bool:
        return self.temp is not None

    def text(self, index: int) -> str:
        """Everything worker ``index`` wrote to stdout and stderr so far."""
        if self._final is not None:
            return self._final[index]
        path = self.directory / f"worker{index}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def records(self, index: int | None = None) -> list[dict]:
        """The JSON objects the workers printed, one per line, in log order."""
        out = []
        for i in range(self.num_workers) if index is None else [index]:
            for line in self.text(i).splitlines():
                if line.startswith("{"):
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass
        return out

    def error_line(self, index: int) -> str:
        """The first line of the last exception in worker ``index``'s log (or its last line)."""
        lines = [line for line in self.text(index).splitlines() if line.strip()]
        errors = [line for line in lines if _ERROR_LINE.match(line)]
        return (errors or lines or ["(empty log)"])[-1][:300]

    def find(self, index: int, match):
        """The first line containing ``match`` (a str) or record containing it (a dict)."""
        if isinstance(match, dict):
            return next((r for r in self.records(index)
                         if all(r.get(k) == v for k, v in match.items())), None)
        return next((line for line in self.text(index).splitlines() if match in line), None)
