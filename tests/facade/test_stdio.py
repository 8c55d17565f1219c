"""stdio: Node's int fds, and beyond Node binary file objects and bytes."""

from __future__ import annotations

import io
import os
import subprocess
import sys


from pywasi import run
from tests.support import compile_c

CAT = r"""
#include <stdio.h>
int main(void) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) fwrite(buf, 1, n, stdout);
    fputs("to stderr\n", stderr);
    return 0;
}
"""

CLOSE_STDOUT = """
(module
  (import "wasi_snapshot_preview1" "fd_close" (func $close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (local $closed i32) (local $again i32)
    (local.set $closed (call $close (i32.const 1)))
    (local.set $again (call $write (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 8)))
    ;; exit code: 10 * errno of the close + errno of the write after it
    (call $exit (i32.add (i32.mul (local.get $closed) (i32.const 10)) (local.get $again)))))
"""


def test_bytes_in_bytesio_out():
    out, err = io.BytesIO(), io.BytesIO()
    assert run(compile_c(CAT), stdin=b"hello\x00world" * 1000, stdout=out, stderr=err).returncode == 0
    assert out.getvalue() == b"hello\x00world" * 1000
    assert err.getvalue() == b"to stderr\n"


def test_bytesio_stdin_and_a_custom_writer():
    class Sink:
        def __init__(self):
            self.chunks = []

        def write(self, data):
            self.chunks.append(bytes(data))
            return len(data)

    sink = Sink()
    assert run(compile_c(CAT), stdin=io.BytesIO(b"abc"), stdout=sink, stderr=io.BytesIO()).returncode == 0
    assert b"".join(sink.chunks) == b"abc"


def test_real_files_by_object_and_by_fd(tmp_path):
    src = tmp_path / "in"
    src.write_bytes(b"from a file\n")
    with open(src, "rb") as stdin, open(tmp_path / "out", "wb") as stdout:
        stdout.write(b"python first\n")  # buffered by Python: flushed before the guest writes
        assert run(compile_c(CAT), stdin=stdin, stdout=stdout, stderr=io.BytesIO()).returncode == 0
    assert (tmp_path / "out").read_bytes() == b"python first\nfrom a file\n"
    fd = os.open(tmp_path / "out2", os.O_WRONLY | os.O_CREAT)
    try:
        assert run(compile_c(CAT), stdin=b"by fd", stdout=fd, stderr=io.BytesIO()).returncode == 0
    finally:
        os.close(fd)
    assert (tmp_path / "out2").read_bytes() == b"by fd"


def test_closing_guest_stdout_keeps_the_hosts():
    code = (
        "import os, sys\n"
        "from pywasi import run\n"
        f"from tests.support import wat\n"
        f"code = run(wat({CLOSE_STDOUT!r})).returncode\n"
        "os.write(1, b'host stdout still open, guest exit %d\\n' % code)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=os.getcwd())
    assert out.stdout == b"host stdout still open, guest exit 8\n"  # close: 0, write after: EBADF (8)


def test_empty_stdin_is_eof():
    out = io.BytesIO()
    assert run(compile_c(CAT), stdin=b"", stdout=out, stderr=io.BytesIO()).returncode == 0
    assert out.getvalue() == b""


ISATTY = r"""
#include <stdio.h>
#include <unistd.h>
int main(void) {
    printf("%d %d\n", isatty(0), isatty(2));
    return 0;
}
"""


def test_dev_null_is_no_terminal_and_a_pty_is_one():
    wasm = compile_c(ISATTY)
    primary, secondary = os.openpty()
    try:
        with open(os.devnull, "rb") as null:
            out = io.BytesIO()
            assert run(wasm, stdin=null, stdout=out, stderr=secondary).returncode == 0
            assert out.getvalue() == b"0 1\n"
    finally:
        os.close(primary), os.close(secondary)
