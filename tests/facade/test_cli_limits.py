"""`pywasi run`'s limit flags: --timeout (exit 124), --max-memory,
--max-fuel, --max-output, --max-fds (sizes such as 64K, 1M), --usage."""

from __future__ import annotations

import json
import time

import pytest

from tests.facade.test_run import FDS, FLOOD, HOG, LOOP, SLEEP
from tests.support import pywasi_cli


@pytest.fixture
def module(tmp_path):
    def write(data: bytes, name: str = "guest.wasm") -> str:
        path = tmp_path / name
        path.write_bytes(data)
        return str(path)

    return write


@pytest.mark.parametrize("guest", [LOOP, SLEEP], ids=["pure-loop", "sleep-60s"])
def test_timeout_exits_124_with_one_line(module, guest):
    started = time.monotonic()
    out = pywasi_cli("run", "--timeout", "0.5", module(guest), timeout=60)
    assert time.monotonic() - started < 30
    assert (out.returncode, out.stdout, out.stderr) == (124, b"", b"pywasi: timed out after 0.5 seconds\n")


def test_usage_goes_to_stderr_or_a_file(module, tmp_path):
    out = pywasi_cli("run", "--timeout", "0.3", "--usage", module(LOOP), timeout=60)
    lines = out.stderr.decode().splitlines()
    assert out.returncode == 124 and lines[0] == "pywasi: timed out after 0.3 seconds"
    assert json.loads(lines[1])["ended_by"] == "timeout"
    report = tmp_path / "usage.json"
    out = pywasi_cli("run", f"--usage={report}", "--max-output", "10K", module(FLOOD), timeout=60)
    assert (out.returncode, len(out.stdout), out.stderr) == (22, 10240, b"")  # EFBIG, past 10 KiB
    usage = json.loads(report.read_text())
    assert (usage["bytes_written"], usage["host_calls"], usage["ended_by"]) == (10240, 4 + 1, "exit")


def test_max_memory_takes_a_size(module):
    assert pywasi_cli("run", "--max-memory", "1M", module(HOG)).returncode == 16
    assert pywasi_cli("run", "--max-memory", "196608", module(HOG)).returncode == 3  # pages


def test_max_fuel_ends_in_a_trap(module):
    out = pywasi_cli("run", "--max-fuel", "100000", module(LOOP), timeout=60)
    assert out.returncode == 134
    assert out.stderr.decode().startswith("pywasi: trap: all fuel consumed")


def test_max_fds(module, tmp_path):
    out = pywasi_cli("run", "--max-fds", "10", "--dir", f"{tmp_path}::/d", module(FDS), timeout=60)
    assert out.returncode == 33  # EMFILE


@pytest.mark.parametrize("flag, value", [
    ("--timeout", "0"), ("--timeout", "soon"), ("--max-memory", "64Q"), ("--max-memory", "-1"),
    ("--max-output", "1.5G"), ("--max-fuel", "lots"), ("--max-fds", "-3"),
])
def test_bad_values_are_one_line_and_exit_2(module, flag, value):
    out = pywasi_cli("run", flag, value, module(LOOP))
    assert out.returncode == 2
    assert out.stderr.count(b"\n") == 1 and flag.encode() in out.stderr
