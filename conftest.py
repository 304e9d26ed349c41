"""pytest set-up shared by the unit tests and the notebooks (nbval)."""

import re
from pathlib import Path

TIMINGS = Path(__file__).parent / "notebooks" / "TIMINGS.md"


def pytest_collectstart(collector):
    """TensorFlow writes log lines to stderr unpredictably: never compare that stream."""
    path = getattr(collector, "path", None)
    if path is not None and path.suffix == ".ipynb" and hasattr(collector, "skip_compare"):
        collector.skip_compare += ("stderr",)


def pytest_collection_modifyitems(items):
    """Notebooks run longest first (times from notebooks/TIMINGS.md; a notebook not in it counts
    as longest), so that with several workers (`make test`, `--no-loadscope-reorder`) no long
    notebook starts last while the other workers idle. The cells of a notebook keep their order."""
    seconds = {}
    if TIMINGS.exists():
        rows = re.findall(r"^\| (\S+\.ipynb) \| ([\d.]+) \|", TIMINGS.read_text(), re.M)
        seconds = {name: float(s) for name, s in rows}

    def longest_first(item):
        if item.path.suffix != ".ipynb":
            return (0, 0.0)  # unit tests keep their place, before the notebooks
        return (1, -seconds.get(item.path.name, float("inf")))
    items.sort(key=longest_first)  # stable: the order within a notebook is kept
