"""Fixtures shared by the unit tests (the nbval set-up is in the root conftest.py)."""

import textwrap

import pytest


@pytest.fixture
def write(tmp_path):
    """write(source, name="worker.py"): a dedented script in the test's folder; returns its path."""
    def _write(source, name="worker.py"):
        path = tmp_path / name
        path.write_text(textwrap.dedent(source))
        return path
    return _write
