"""Shared fixtures."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from tests.support import UPSTREAM_WITX


@pytest.fixture(scope="session")
def upstream_witx() -> Path:
    if not UPSTREAM_WITX.is_dir():
        pytest.skip("the upstream witx files (../shared/witx) are not beside the checkout")
    return UPSTREAM_WITX


# Compiled modules go to a cache of the test run's own, not the user's (and
# the subprocesses the tests start inherit it).
os.environ["PYWASI_CACHE"] = tempfile.mkdtemp(prefix="pywasi-test-cache-")
