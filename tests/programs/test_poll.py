"""poll_oneoff from real programs: sleeps that wake on time, poll() and
select() on stdin as a pipe, a closed pipe and a file; and from WAT, what libc
hides: both subscription layouts, absolute clocks, userdata, per-event errors."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import threading
import time

import pytest
import wasmtime

from pywasi import WASI
from pywasi.generated.preview1 import Errno
from tests.support import ROOT, compile_c, run_captured, wat


def test_sleeps_wake_within_a_few_ms_of_their_deadline():
    code, out, _ = run_captured(compile_c("sleep.c"))
    lines = dict(line.split(" ", 1) for line in out.decode().splitlines())
    nanosleep, usleep = int(lines["nanosleep"]), int(lines["usleep"])
    select_us, returned = lines["select"].split(" returned ")
    assert 10_000 <= nanosleep < 13_000
    assert 20_000 <= usleep < 23_000
    assert 15_000 <= int(select_us) < 18_000 and returned == "0"


def test_a_sleep_blocks_in_the_os_not_in_a_loop():
    start_cpu, start = time.process_time(), time.monotonic()
    code, _, _ = run_captured(wat(SLEEP_100MS))
    cpu, wall = time.process_time() - start_cpu, time.monotonic() - start
    assert code == 0 and wall >= 0.1
    assert cpu < 0.05  # a busy loop would burn the whole 100 ms


def poll_stdin(stdin, *args):
    return subprocess.run(
        [sys.executable, "-m", "pywasi", "run", str(compile_c("poll_stdin.c")), *args],
        stdin=stdin, capture_output=True, cwd=ROOT, timeout=60,
    )


def test_poll_on_a_pipe_with_data_waits_for_it():
    r, w = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pywasi", "run", str(compile_c("poll_stdin.c")), "5000"],
        stdin=r, stdout=subprocess.PIPE, cwd=ROOT,
    )
    os.close(r)
    time.sleep(0.3)  # the guest is blocked in poll() by now
    os.write(w, b"late data")
    out, _ = proc.communicate(timeout=60)
    os.close(w)
    assert out == b"poll=1 IN\nread 9: late data\nselect=0\n"


def test_poll_on_a_closed_pipe_is_readable_and_hung_up():
    r, w = os.pipe()
    os.close(w)
    out = poll_stdin(r)
    os.close(r)
    assert out.stdout == b"poll=1 IN HUP\nread 0: \nselect=1\n"


def test_poll_on_an_empty_open_pipe_times_out():
    r, w = os.pipe()
    out = poll_stdin(r, "50")
    os.close(r), os.close(w)
    assert out.stdout == b"poll=0\nselect=0\n"


def test_poll_on_a_file_is_ready(tmp_path):
    (tmp_path / "in").write_bytes(b"file data")
    with open(tmp_path / "in", "rb") as f:
        out = poll_stdin(f)
    assert out.stdout == b"poll=1 IN\nread 9: file data\nselect=1\n"


SLEEP_100MS = """
(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i64.store (i32.const 0) (i64.const 7))          ;; userdata
    (i32.store8 (i32.const 8) (i32.const 0))         ;; tag: clock
    (i32.store (i32.const 16) (i32.const 1))         ;; monotonic
    (i64.store (i32.const 24) (i64.const 100000000)) ;; 100 ms
    (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 200)))))
"""

POLL = """
(module
  (import "{ns}" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "{ns}" "clock_time_get" (func $now (param i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "now") (param $clock i32) (result i64)
    (drop (call $now (local.get $clock) (i64.const 1) (i32.const 4088)))
    (i64.load (i32.const 4088)))
  (func (export "poll") (param $n i32) (result i32)
    (call $poll (i32.const 0) (i32.const 2048) (local.get $n) (i32.const 4080)))
  (func (export "_start")))
"""


class Poller:
    """A guest whose poll_oneoff the test drives by writing subscriptions."""

    def __init__(self, version: str = "preview1", **options):
        ns = {"preview1": "wasi_snapshot_preview1", "unstable": "wasi_unstable"}[version]
        engine = wasmtime.Engine()
        self.store = wasmtime.Store(engine)
        linker = wasmtime.Linker(engine)
        self.wasi = WASI(version=version, **options)
        self.wasi.define(linker)
        instance = linker.instantiate(self.store, wasmtime.Module(engine, wat(POLL.format(ns=ns))))
        self.wasi.start(instance, self.store)
        self.exports = instance.exports(self.store)
        self.memory = self.exports["memory"]
        self.size = 56 if version == "unstable" else 48
        self.clock_body = 8 if version == "unstable" else 0  # the identifier comes first
        self.subs = b""

    def clock(self, userdata: int, clock: int, timeout: int, absolute: bool = False, identifier: int = 0):
        body = struct.pack("<Q", identifier) if self.clock_body else b""
        body += struct.pack("<I4xQQH", clock, timeout, 0, 1 if absolute else 0)
        self._add(userdata, 0, body)

    def fd(self, userdata: int, fd: int, write: bool = False):
        self._add(userdata, 2 if write else 1, struct.pack("<I", fd))

    def _add(self, userdata, tag, body):
        sub = struct.pack("<QB7x", userdata, tag) + body
        self.subs += sub.ljust(self.size, b"\0")

    def poll(self):
        self.memory.write(self.store, self.subs, 0)
        n = len(self.subs) // self.size
        started = time.monotonic()
        errno = self.exports["poll"](self.store, n)
        took = time.monotonic() - started
        count = struct.unpack("<I", self.memory.read(self.store, 4080, 4084))[0]
        events = [
            struct.unpack("<QHB5xQH6x", self.memory.read(self.store, 2048 + 32 * i, 2048 + 32 * (i + 1)))
            for i in range(count)
        ] if errno == 0 else []
        self.subs = b""
        return errno, events, took


@pytest.mark.parametrize("version", ["preview1", "unstable"])
def test_several_subscriptions_with_their_userdata(version):
    r, w = os.pipe()
    os.write(w, b"abc")
    try:
        p = Poller(version, stdin=r)
        p.clock(0xC10C, clock=1, timeout=5_000_000_000)
        p.fd(0xAAAA, 0)
        p.fd(0xBBBB, 1, write=True)
        errno, events, took = p.poll()
        assert errno == 0 and took < 1
        # the read and the write are ready at once, the 5 s clock is not
        assert [(e[0], e[1], e[2]) for e in events] == [(0xAAAA, 0, 1), (0xBBBB, 0, 2)]
        assert events[0][3] == 3  # bytes ready (FIONREAD)
    finally:
        os.close(r), os.close(w)


@pytest.mark.parametrize("version", ["preview1", "unstable"])
def test_unstable_layout_is_read_as_56_bytes_with_the_identifier_first(version):
    p = Poller(version)
    p.clock(1, clock=1, timeout=1_000_000, identifier=0xFFFF_FFFF_FFFF_FFFF)
    p.clock(2, clock=1, timeout=2_000_000)
    errno, events, _ = p.poll()
    assert errno == 0
    assert [e[0] for e in events] == [1]  # the 1 ms clock fired; the 2 ms one had not yet


@pytest.mark.parametrize("timeout", [2**32 * 1_000_000, 2**63, 2**64 - 1])
def test_a_clock_centuries_away_waits_beside_a_pipe(timeout):
    # poll() takes an int of ms and time.sleep a time_t: a longer clock is
    # waited on in turns (it once failed at once with an OverflowError).
    r, w = os.pipe()
    try:
        p = Poller(stdin=r)
        p.clock(1, clock=1, timeout=timeout)
        p.fd(2, 0)
        threading.Timer(0.1, os.write, (w, b"x")).start()
        errno, events, took = p.poll()
        assert errno == 0 and [e[:3] for e in events] == [(2, 0, 1)]
        assert 0.09 <= took < 5
    finally:
        os.close(r), os.close(w)


@pytest.mark.parametrize("clock", [0, 1])
def test_absolute_clocks(clock):
    p = Poller()
    now = p.exports["now"](p.store, clock)
    p.clock(5, clock=clock, timeout=now + 30_000_000, absolute=True)
    errno, events, took = p.poll()
    assert errno == 0 and [e[:3] for e in events] == [(5, 0, 0)]
    assert 0.025 <= took < 0.1
    p.clock(6, clock=clock, timeout=now - 1, absolute=True)  # already past
    errno, events, took = p.poll()
    assert [e[0] for e in events] == [6] and took < 0.01


@pytest.mark.parametrize("clock", [2, 3])
def test_cpu_time_clocks_wait_as_long_in_real_time(clock):
    p = Poller()
    p.clock(9, clock=clock, timeout=20_000_000)
    errno, events, took = p.poll()
    assert errno == 0 and [e[0] for e in events] == [9] and 0.019 <= took < 0.1


def test_fd_errors_are_per_event(tmp_path):
    p = Poller(preopens={"/d": str(tmp_path)})
    p.fd(1, 99)  # not open
    p.fd(2, 3)  # a directory is not a stream
    p.clock(3, clock=1, timeout=0)
    errno, events, _ = p.poll()
    assert errno == 0
    assert [(e[0], e[1]) for e in events] == [(1, Errno.BADF), (2, Errno.BADF), (3, 0)]


def test_zero_subscriptions_is_einval():
    p = Poller()
    errno, events, _ = p.poll()
    assert errno == Errno.INVAL


def test_memory_stdin_polls_as_readable():
    p = Poller(stdin=b"12345")
    p.fd(1, 0)
    errno, events, _ = p.poll()
    assert events == [(1, 0, 1, 5, 0)]
    p = Poller(stdin=b"")
    p.fd(1, 0)
    errno, events, _ = p.poll()
    assert events == [(1, 0, 1, 0, 1)]  # at its end: readable and hung up


def test_files_the_guest_opens_are_always_ready(tmp_path, filesystem):
    (tmp_path / "data").write_bytes(b"0123456789")
    program = compile_c(
        r"""
        #include <fcntl.h>
        #include <poll.h>
        #include <stdio.h>
        #include <unistd.h>
        int main(void) {
            int fd = open("/d/data", O_RDWR);
            char buf[4];
            read(fd, buf, 4);
            struct pollfd p[2] = {{fd, POLLIN, 0}, {fd, POLLOUT, 0}};
            int n = poll(p, 2, 5000);
            printf("poll=%d in=%d out=%d\n", n, !!(p[0].revents & POLLIN), !!(p[1].revents & POLLOUT));
            return 0;
        }
        """
    )
    code, out, _ = run_captured(program, preopens={"/d": filesystem.preopen(tmp_path)})
    assert (code, out) == (0, b"poll=2 in=1 out=1\n")


def test_what_is_left_of_a_file_is_its_nbytes(tmp_path):
    (tmp_path / "data").write_bytes(b"0123456789")
    p = Poller(stdin=open(tmp_path / "data", "rb"))
    p.fd(1, 0)
    errno, events, _ = p.poll()
    assert events == [(1, 0, 1, 10, 0)]
