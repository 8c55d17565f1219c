"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import UPSTREAM_WITX


@pytest.fixture(scope="session")
def upstream_witx() -> Path:
    if not UPSTREAM_WITX.is_dir():
        pytest.skip("the upstream witx files (../shared/witx) are not beside the checkout")
    return UPSTREAM_WITX
