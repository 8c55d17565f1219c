"""Blocking waits: in poll(), never select() (a host holding many files has
fds of 1024 and above), and ended by a stop."""

from __future__ import annotations

import os
import resource
import select
import socket
import threading
import time

import pytest

from pywasi import run
from pywasi.handlers import wait
from pywasi.generated.preview1 import Errno
from tests.support import wat

NONBLOCKING_READ_THEN_ACCEPT = """
(module
  (import "wasi_snapshot_preview1" "fd_fdstat_set_flags" (func $flags (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_accept" (func $accept (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (drop (call $flags (i32.const 0) (i32.const 4)))  ;; stdin NONBLOCK
    (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 16))
    (call $exit (i32.add
      (i32.mul (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)) (i32.const 100))
      (call $accept (i32.const 3) (i32.const 0) (i32.const 12))))))
"""


@pytest.fixture
def many_fds():
    """The host holds fds up to past 1024, so that new ones are numbered above."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip("the hard RLIMIT_NOFILE is below 1200")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200) if soft != resource.RLIM_INFINITY else soft, hard))
    held = []
    try:
        while not held or held[-1] < 1030:
            held.append(os.open(os.devnull, os.O_RDONLY))
        yield
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_fds_past_1024_are_waited_on(many_fds):
    r, w = os.pipe()
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    try:
        assert min(r, server.fileno()) >= 1024
        result = run(wat(NONBLOCKING_READ_THEN_ACCEPT), stdin=r, sockets=[server])
        # The empty pipe: EAGAIN; the connection waiting: accepted.
        assert (result.returncode, result.trap) == (Errno.AGAIN * 100 + 0, None)
    finally:
        client.close()
        server.close()
        os.close(r)
        os.close(w)


def test_a_wait_ends_when_its_wake_fd_is_readable():
    r, w = os.pipe()
    wake_r, wake_w = os.pipe()
    try:
        started = time.monotonic()  # before the timer's start: it may run first on a busy machine
        threading.Timer(0.2, os.write, (wake_w, b"!")).start()
        with wait.wake_on(wake_r), pytest.raises(wait.Stopped):
            wait.wait_for(r, wait.READ)
        assert 0.2 <= time.monotonic() - started < 5
        assert not wait.stoppable()  # unbound again after the block
    finally:
        for fd in (r, w, wake_r, wake_w):
            os.close(fd)


def test_a_deadline_ends_a_wait_without_events():
    r, w = os.pipe()
    try:
        deadline = time.monotonic_ns() + 50_000_000
        while time.monotonic_ns() < deadline:  # it may return up to a millisecond early
            assert wait.wait({r: wait.READ}, deadline) == {}
        os.write(w, b"x")
        assert wait.wait({r: wait.READ}) == {r: select.POLLIN}
    finally:
        os.close(r)
        os.close(w)
