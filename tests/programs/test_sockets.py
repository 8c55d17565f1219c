"""Sockets: a C echo server on a listening socket the test hands in serves
several clients at once from Python threads, survives one that disconnects
mid-send, and shuts down cleanly; the CLI's --tcplisten; sock_* on things
that are not sockets."""

from __future__ import annotations

import io
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest
import wasmtime

from pywasi import WASI, run
from pywasi.generated.preview1 import Errno
from tests.support import ROOT, compile_c, wat


def listener() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    return s


def serve(sock: socket.socket, clients: int):
    """Run the echo server in a thread; its (exit code, stdout) when joined."""
    result = {}
    out = io.BytesIO()

    def target():
        result["code"] = run(compile_c("echo_server.c"), args=["echo", str(clients)], sockets=[sock], stdout=out).returncode
        result["out"] = out.getvalue()

    thread = threading.Thread(target=target)
    thread.start()
    return thread, result


def echo_client(port: int, messages: list[bytes], results: dict, name: str):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        got = []
        for m in messages:
            c.sendall(m)
            data = b""
            while len(data) < len(m):
                data += c.recv(65536)
            got.append(data)
        results[name] = got


def test_echo_server_serves_several_clients_at_once():
    sock = listener()
    port = sock.getsockname()[1]
    server, result = serve(sock, clients=6)
    results: dict = {}
    threads = [
        threading.Thread(target=echo_client, args=(port, [f"{i}-{j}".encode() * (j + 1) for j in range(20)], results, i))
        for i in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    server.join(30)
    assert not server.is_alive()
    assert result == {"code": 0, "out": b"served 6 clients\n"}
    for i in range(6):
        assert results[i] == [f"{i}-{j}".encode() * (j + 1) for j in range(20)]
    # the socket was the host's: still open and listening after the guest is done
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
    sock.close()


def test_server_survives_a_client_that_disconnects_mid_send():
    sock = listener()
    port = sock.getsockname()[1]
    server, result = serve(sock, clients=2)
    rude = socket.create_connection(("127.0.0.1", port))
    rude.sendall(b"flood" * 1000)  # asks for a lot of data back
    rude.recv(100)
    rude.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    rude.close()  # reset, while the guest is still sending
    results: dict = {}
    echo_client(port, [b"still there?"], results, "polite")
    server.join(30)
    sock.close()
    assert results["polite"] == [b"still there?"]
    assert result["code"] == 0
    lines = result["out"].decode().splitlines()
    assert lines[-1] == "served 2 clients"
    assert lines[:-1] in (["send failed: Connection reset by peer"], ["send failed: Broken pipe"])


def test_tcplisten_from_the_command_line():
    probe = listener()
    port = probe.getsockname()[1]
    probe.close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pywasi", "run", "--tcplisten", f"127.0.0.1:{port}", str(compile_c("echo_server.c")), "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
    )
    results: dict = {}
    for _ in range(100):
        try:
            echo_client(port, [b"over the cli"], results, "c")
            break
        except ConnectionRefusedError:
            time.sleep(0.1)
    out, err = proc.communicate(timeout=30)
    assert (proc.returncode, out, err) == (0, b"served 1 clients\n", b"")
    assert results["c"] == [b"over the cli"]


def test_sockets_option_checks():
    with pytest.raises(TypeError, match="sockets must be a list"):
        WASI(sockets="127.0.0.1:80")
    with pytest.raises(ValueError, match="not HOST:PORT"):
        WASI(sockets=["localhost"])
    plain = socket.socket()
    try:
        with pytest.raises(ValueError, match="not a listening stream socket"):
            WASI(sockets=[plain])
    finally:
        plain.close()


SOCK_CALLS = """
(module
  (import "wasi_snapshot_preview1" "sock_accept" (func $accept (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_recv" (func $recv (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_send" (func $send (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_shutdown" (func $shutdown (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_fdstat_set_flags" (func $set_flags (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "set_flags") (param $fd i32) (param $flags i32) (result i32)
    (call $set_flags (local.get $fd) (local.get $flags)))
  (func (export "accept") (param $fd i32) (param $flags i32) (result i32)
    (call $accept (local.get $fd) (local.get $flags) (i32.const 100)))
  (func (export "accepted") (result i32) (i32.load (i32.const 100)))
  (func (export "recv") (param $fd i32) (param $flags i32) (result i32)
    (i32.store (i32.const 0) (i32.const 200)) (i32.store (i32.const 4) (i32.const 4))
    (call $recv (local.get $fd) (i32.const 0) (i32.const 1) (local.get $flags) (i32.const 104) (i32.const 108)))
  (func (export "send") (param $fd i32) (param $flags i32) (result i32)
    (i32.store (i32.const 0) (i32.const 200)) (i32.store (i32.const 4) (i32.const 4))
    (call $send (local.get $fd) (i32.const 0) (i32.const 1) (local.get $flags) (i32.const 104)))
  (func (export "shutdown") (param $fd i32) (param $how i32) (result i32)
    (call $shutdown (local.get $fd) (local.get $how)))
  (func (export "_start")))
"""


@pytest.fixture
def guest(tmp_path):
    sock = listener()
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    w = WASI(sockets=[sock], preopens={"/d": str(tmp_path)})
    w.define(linker)
    instance = linker.instantiate(store, wasmtime.Module(engine, wat(SOCK_CALLS)))
    w.start(instance, store)
    e = instance.exports(store)
    call = lambda name, *args: e[name](store, *args)  # noqa: E731
    yield call, sock, e["memory"], store
    w.close()
    sock.close()


def test_sock_calls_on_things_that_are_not_sockets(guest):
    call, *_ = guest
    for fd in (0, 1, 4):  # stdin, stdout, a preopened directory
        assert call("accept", fd, 0) == Errno.NOTSOCK
        assert call("recv", fd, 0) == Errno.NOTSOCK
        assert call("send", fd, 0) == Errno.NOTSOCK
        assert call("shutdown", fd, 3) == Errno.NOTSOCK
    for fd in (5, 77):  # closed, never open
        assert call("accept", fd, 0) == Errno.BADF
        assert call("shutdown", fd, 3) == Errno.BADF
    assert call("recv", 3, 0) == Errno.NOTCAPABLE  # a listener does not read


def test_accept_nonblocking_recv_flags_and_shutdown(guest):
    call, sock, memory, store = guest
    port = sock.getsockname()[1]
    assert call("set_flags", 3, 1 << 2) == 0  # the listener itself NONBLOCK
    assert call("accept", 3, 0) == Errno.AGAIN  # and nobody waiting
    assert call("accept", 3, 1 << 0) == Errno.INVAL  # APPEND is no accept flag
    client = socket.create_connection(("127.0.0.1", port))
    assert call("accept", 3, 1 << 2) == 0  # the new connection NONBLOCK
    conn = call("accepted")
    assert conn == 5
    assert call("recv", conn, 0) == Errno.AGAIN  # nonblocking, nothing yet
    client.sendall(b"abcdefgh")
    time.sleep(0.05)
    assert call("recv", conn, 1) == 0  # RECV_PEEK
    assert memory.read(store, 200, 204) == b"abcd"
    assert call("recv", conn, 2) == 0  # RECV_WAITALL
    assert memory.read(store, 200, 204) == b"abcd"
    assert call("recv", conn, 0) == 0
    assert memory.read(store, 200, 204) == b"efgh"
    assert struct.unpack("<II", memory.read(store, 104, 112)) == (4, 0)  # size, no roflags
    assert call("send", conn, 1) == Errno.NOTSUP  # no siflags exist
    assert call("shutdown", conn, 0) == Errno.INVAL
    assert call("shutdown", conn, 2) == 0  # WR: the client sees the end
    assert client.recv(10) == b""
    assert call("send", conn, 0) == Errno.PIPE
    client.close()
