"""pytest set-up shared by the unit tests and the notebooks (nbval)."""


def pytest_collectstart(collector):
    """TensorFlow writes log lines to stderr unpredictably: never compare that stream."""
    path = getattr(collector, "path", None)
    if path is not None and path.suffix == ".ipynb" and hasattr(collector, "skip_compare"):
        collector.skip_compare += ("stderr",)
