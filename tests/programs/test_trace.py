"""Real programs traced and counted: C compiled with wasi-libc under
pywasi.run and `pywasi run --trace/--stats`, the lines exact and in order."""

from __future__ import annotations

import io
import re

import pytest

from pywasi import HostCall, Stats, run
from tests.support import compile_c, pywasi_cli, rename_import_module

# A pointer or a clock reading is whatever the program or the host had: those
# lines are patterns, every other one is exact.
STDIO_TRACE = [
    "args_sizes_get() -> success, size0=2, size1=10",
    re.compile(r"args_get\(argv=0x[0-9a-f]+, argv_buf=0x[0-9a-f]+\) -> success"),
    "fd_read(fd=0, iovs=32 bytes) -> success, size=6",
    "fd_write(fd=1, iovs=6 bytes) -> success, size=6",
    "environ_sizes_get() -> success, size0=1, size1=12",
    re.compile(r"environ_get\(environ=0x[0-9a-f]+, environ_buf=0x[0-9a-f]+\) -> success"),
    "fd_write(fd=1, iovs=2 bytes) -> success, size=2",
    "random_get(buf=16 bytes) -> success",
    re.compile(r"clock_time_get\(id=MONOTONIC, precision=1\) -> success, timestamp=\d+"),
    "fd_write(fd=2, iovs=4 bytes) -> success, size=4",
    "proc_exit(rval=3) -> exit 3",
]


def matches(lines: list[str], expected: list) -> bool:
    return len(lines) == len(expected) and all(
        e.fullmatch(line) if isinstance(e, re.Pattern) else line == e for line, e in zip(lines, expected)
    )


def run_stdio(module=None, **options):
    out, err = io.BytesIO(), io.BytesIO()
    code = run(module or compile_c("trace_stdio.c"), args=["prog", "arg1"], env={"GREETING": "hi"},
               stdin=b"hello\n", stdout=out, stderr=err, **options).returncode
    assert (code, out.getvalue(), err.getvalue()) == (3, b"hello\nhi", b"arg1")


def test_a_stdio_program_traced_line_by_line():
    calls: list[HostCall] = []
    run_stdio(trace=calls.append)
    lines = [str(c) for c in calls]
    assert matches(lines, STDIO_TRACE), "\n".join(lines)
    assert calls[2].results == {"size": 6} and calls[-1].exception.code == 3


def test_the_same_program_under_wasi_unstable_traces_the_same():
    unstable = rename_import_module(compile_c("trace_stdio.c").read_bytes(), "wasi_snapshot_preview1", "wasi_unstable")
    text = io.StringIO()
    run_stdio(unstable, trace=text)
    assert matches(text.getvalue().splitlines(), STDIO_TRACE)


# What trace_files.c does: it calls WASI itself, so the lines are its calls and
# no libc's.
FILES_TRACE = [
    'path_open(fd=3, dirflags=SYMLINK_FOLLOW, path="data/in.txt", oflags=0, fs_rights_base=FD_READ, '
    "fs_rights_inheriting=0, fdflags=0) -> success, fd=4",
    "fd_read(fd=4, iovs=64 bytes) -> success, size=6",
    'path_open(fd=3, dirflags=SYMLINK_FOLLOW, path="data/out.txt", oflags=CREAT|TRUNC, '
    "fs_rights_base=FD_READ|FD_WRITE, fs_rights_inheriting=0, fdflags=0) -> success, fd=5",
    "fd_write(fd=5, iovs=6 bytes) -> success, size=6",
    "fd_close(fd=4) -> success",
    "fd_close(fd=5) -> success",
]


@pytest.fixture
def sandbox(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "in.txt").write_bytes(b"hello\n")
    return tmp_path


def test_a_program_that_opens_reads_and_writes_a_file(sandbox):
    text = io.StringIO()
    code = run(compile_c("trace_files.c"), args=["copy"], preopens={"/sandbox": str(sandbox)}, trace=text).returncode
    assert text.getvalue().splitlines() == FILES_TRACE
    assert code == 0
    assert (sandbox / "data" / "out.txt").read_bytes() == b"hello\n"


def test_cli_trace_to_stderr_or_a_file(sandbox, tmp_path):
    wasm = str(compile_c("trace_files.c"))
    expected = "\n".join(FILES_TRACE) + "\n"
    out = pywasi_cli("run", "--trace", "--dir", f"{sandbox}::/sandbox", wasm)
    assert (out.stdout, out.stderr.decode()) == (b"", expected)
    log = tmp_path / "trace.log"
    out = pywasi_cli("run", f"--trace={log}", "--dir", f"{sandbox}::/sandbox", "--", wasm)
    assert (out.stdout, out.stderr) == (b"", b"")
    assert log.read_text() == expected
    assert out.returncode == 0


def test_a_bare_trace_never_takes_the_module_or_its_args():
    wasm = compile_c("trace_stdio.c")
    out = pywasi_cli("run", "--env", "GREETING=hi", "--trace", str(wasm), "--trace", input=b"hello\n")
    assert out.returncode == 3 and out.stdout == b"hello\nhi"
    lines = out.stderr.decode().splitlines()
    argv_bytes = len(wasm.name) + 1 + len("--trace") + 1  # the guest's argv: the module's name, "--trace"
    assert lines[0] == f"args_sizes_get() -> success, size0=2, size1={argv_bytes}"
    # The guest writes its argv[1] to stderr, without a newline, before the call is traced.
    assert "--tracefd_write(fd=2, iovs=7 bytes) -> success, size=7" in lines


def test_a_trace_file_that_cannot_be_written_is_one_line_and_exit_2(tmp_path):
    out = pywasi_cli("run", f"--trace={tmp_path}/no/such/dir/t.log", str(compile_c("trace_stdio.c")))
    assert out.returncode == 2 and out.stdout == b""
    assert out.stderr.startswith(b"pywasi: --trace: ") and out.stderr.count(b"\n") == 1


# Counting ---------------------------------------------------------------------


def test_stats_count_calls_outcomes_and_time():
    stats = Stats()
    run_stdio(stats=stats)
    run_stdio(stats=stats)  # one Stats across runs adds up
    called = stats.called()
    assert {name: s.calls for name, s in called.items()} == {
        "args_sizes_get": 2, "args_get": 2, "fd_read": 2, "fd_write": 6, "environ_sizes_get": 2, "environ_get": 2,
        "random_get": 2, "clock_time_get": 2, "proc_exit": 2,
    }
    assert called["fd_write"].outcomes == {"success": 6}
    assert called["proc_exit"].outcomes == {"exit 3": 2}
    assert all(s.ns > 0 for s in called.values())


def test_stats_and_trace_together():
    stats, calls = Stats(), []
    run_stdio(stats=stats, trace=calls.append)
    assert len(calls) == sum(s.calls for s in stats.called().values()) == len(STDIO_TRACE)


def test_cli_stats_at_exit():
    wasm = str(compile_c("trace_stdio.c"))
    out = pywasi_cli("run", "--stats", "--env", "GREETING=hi", wasm, "arg1", input=b"hello\n")
    assert (out.returncode, out.stdout) == (3, b"hello\nhi")
    err = out.stderr.decode()
    assert err.startswith("arg1")
    table = err[len("arg1"):].splitlines()
    assert re.fullmatch(r"function +calls  ms in host  outcomes", table[0])
    rows = {}
    for row in table[1:-1]:
        name, calls, ms, outcomes = re.fullmatch(r"(\w+) +(\d+) +(\d+\.\d{3})  (.*)", row).groups()
        rows[name] = (int(calls), outcomes)
    assert rows == {
        "args_sizes_get": (1, "1 success"), "args_get": (1, "1 success"), "fd_read": (1, "1 success"),
        "fd_write": (3, "3 success"), "environ_sizes_get": (1, "1 success"), "environ_get": (1, "1 success"),
        "random_get": (1, "1 success"), "clock_time_get": (1, "1 success"), "proc_exit": (1, "1 exit 3"),
    }
    assert re.fullmatch(r"total +11 +\d+\.\d{3}", table[-1])


def test_cli_stats_count_errnos(sandbox, tmp_path):
    program = str(compile_c("trace_files.c"))
    out = pywasi_cli("run", "--stats", "--dir", f"{sandbox}::/sandbox", program)
    lines = out.stderr.decode().splitlines()
    assert any(re.fullmatch(r"path_open +2 +\d+\.\d{3}  2 success", line) for line in lines), lines
    (tmp_path / "empty").mkdir()  # no data/in.txt: the first open fails, and the program exits with it
    out = pywasi_cli("run", "--stats", "--dir", f"{tmp_path / 'empty'}::/sandbox", program)
    assert out.returncode == 44  # ENOENT
    lines = out.stderr.decode().splitlines()
    assert any(re.fullmatch(r"path_open +1 +\d+\.\d{3}  1 NOENT", line) for line in lines), lines
    assert any(re.fullmatch(r"proc_exit +1 +\d+\.\d{3}  1 exit 44", line) for line in lines), lines
