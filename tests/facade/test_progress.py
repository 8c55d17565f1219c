"""Long compiles under `pywasi run`: on a terminal a line says what is under
way after a second, and is wiped; nothing when stderr is not a terminal;
Ctrl-C stops at once. The terminal is a pseudo-terminal (pty)."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time

import pytest

from pywasi.progress import size_text


def uleb(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def section(number: int, items: list[bytes]) -> bytes:
    payload = uleb(len(items)) + b"".join(items)
    return bytes([number]) + uleb(len(payload)) + payload


def slow_to_compile(functions: int, steps: int = 200) -> bytes:
    """A WASI command that does nothing, with `functions` more functions of
    `steps` arithmetic steps each: 12,000 take seconds to compile here."""
    step = b"\x20\x00\x41\x07\x6c\x41\x03\x6a\x21\x00"  # x = x * 7 + 3
    slow = b"\x00" + step * steps + b"\x20\x00\x0b"
    start = b"\x00\x0b"
    return b"\0asm\x01\0\0\0" + b"".join([
        section(1, [b"\x60\x00\x00", b"\x60\x01\x7f\x01\x7f"]),  # () -> (), (i32) -> i32
        section(3, [uleb(0)] + [uleb(1)] * functions),
        section(5, [b"\x00\x01"]),  # one page of memory
        section(7, [b"\x06memory\x02\x00", b"\x06_start\x00\x00"]),
        section(10, [uleb(len(start)) + start] + [uleb(len(slow)) + slow] * functions),
    ])


def start_on_a_terminal(module) -> tuple[subprocess.Popen, int]:
    """`pywasi run --no-cache MODULE` with stderr on a pty; stdout a pipe."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "pywasi", "run", "--no-cache", str(module)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower,
    )
    os.close(follower)
    return process, leader


def read_until(leader: int, wanted: bytes, timeout: float) -> bytes:
    """What the terminal showed, until `wanted` or the end (or the timeout)."""
    seen = b""
    deadline = time.monotonic() + timeout
    while wanted not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the other side is closed
                break
            if not chunk:
                break
            seen += chunk
    return seen


@pytest.mark.parametrize("n, text", [
    (0, "0 bytes"), (999, "999 bytes"), (1000, "1.0 kB"), (4_096, "4.1 kB"),
    (26_300_000, "26.3 MB"), (999_999_999, "1000.0 MB"), (3_000_000_000, "3.0 GB"),
])
def test_sizes_as_a_person_reads_them(n, text):
    assert size_text(n) == text


def test_a_long_compile_shows_a_line_on_a_terminal_then_wipes_it(tmp_path):
    module = tmp_path / "slow.wasm"
    module.write_bytes(slow_to_compile(12000))
    size = size_text(module.stat().st_size)
    process, leader = start_on_a_terminal(module)
    try:
        out, _ = process.communicate(timeout=300)
        shown = read_until(leader, b"\0", timeout=1).decode()
    finally:
        os.close(leader)
    assert (process.returncode, out) == (0, b"")
    first = f"\rpywasi: compiling slow.wasm ({size}), 1 s"
    assert shown.startswith(first), shown
    # Redrawn as the seconds pass, then wiped: the cursor back at the start
    # of an empty line.
    last = shown.rsplit("\r", 2)[-2]
    assert last == " " * len(last) and len(last) >= len(first) - 1
    assert shown.endswith("\r")


def test_nothing_is_shown_when_stderr_is_not_a_terminal(tmp_path):
    module = tmp_path / "slow.wasm"
    module.write_bytes(slow_to_compile(12000))
    out = subprocess.run([sys.executable, "-m", "pywasi", "run", "--no-cache", str(module)], capture_output=True)
    assert (out.returncode, out.stdout, out.stderr) == (0, b"", b"")


def test_ctrl_c_stops_a_compile_at_once(tmp_path):
    # This one takes tens of seconds to compile here: a Ctrl-C that waited
    # for the compile to end would take that long.
    module = tmp_path / "slower.wasm"
    module.write_bytes(slow_to_compile(40000))
    process, leader = start_on_a_terminal(module)
    try:
        shown = read_until(leader, b"compiling", timeout=60)
        assert b"pywasi: compiling slower.wasm" in shown
        interrupted = time.monotonic()
        process.send_signal(signal.SIGINT)
        process.wait(timeout=300)
        took = time.monotonic() - interrupted
        shown += read_until(leader, b"interrupted\r\n", timeout=5)
    finally:
        process.kill()
        os.close(leader)
    assert process.returncode == 130
    assert took < 3, f"{took:.1f} s from Ctrl-C to exit"
    assert shown.endswith(b"\rpywasi: interrupted\r\n")
