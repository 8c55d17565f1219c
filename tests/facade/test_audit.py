"""`pywasi audit`: every function of both ABI versions with how the handlers
answer it, and a module's imports checked against the spec. Statuses are
pinned where they exist today and otherwise checked against what the stubs
really answer, so the tests hold as handlers are added."""

from __future__ import annotations

import importlib
import json

import pytest

from pywasi import audit, native
from pywasi.generated import preview0, preview1
from pywasi.generated.interface import Handlers
from pywasi.generated.preview1 import Errno
from pywasi.runtime.errors import ProcExit, WasiError, enosys
from pywasi.handlers.fdtable import FdTable
from pywasi.handlers.host import Host
from pywasi.runtime.memory import GuestMemory, bytes_source
from tests.support import compile_c, pywasi_cli, wat


def by_version():
    return {v.version: v for v in audit.audit_versions()}


def test_both_versions_list_every_function_of_their_spec_in_order():
    versions = by_version()
    assert list(versions) == ["preview1", "unstable"]
    p1, p0 = versions["preview1"], versions["unstable"]
    assert (p1.module, p1.total, p0.module, p0.total) == ("wasi_snapshot_preview1", 46, "wasi_unstable", 45)
    assert [f.name for f in p1.functions] == list(preview1.FUNCTIONS)
    assert [f.name for f in p0.functions] == list(preview0.FUNCTIONS)
    assert {f.name for f in p1.functions} - {f.name for f in p0.functions} == {"sock_accept"}
    assert p1.implemented == sum(f.status == "implemented" for f in p1.functions)


@pytest.mark.parametrize("version", ["preview1", "unstable"])
def test_statuses_that_exist_today(version):
    v = by_version()[version]
    for name, cls in [
        ("args_get", "args_env.ArgsEnv"), ("environ_sizes_get", "args_env.ArgsEnv"),
        ("clock_time_get", "clock.Clocks"), ("fd_write", "fd.FdCalls"), ("fd_read", "fd.FdCalls"),
        ("fd_prestat_get", "fd.FdCalls"), ("proc_exit", "proc.Process"), ("random_get", "random.Randomness"),
        ("proc_raise", "proc.Process"),
    ]:
        assert v.status(name) == audit.FunctionStatus(
            name=name, status="implemented", handler=f"pywasi.handlers.calls.{cls}.{name}", reason=None
        )
    assert v.implemented == v.total  # every function of both versions


def _resolve(dotted: str):
    module, cls, method = dotted.rsplit(".", 2)
    return vars(getattr(importlib.import_module(module), cls))[method]


@pytest.mark.parametrize("version", ["preview1", "unstable"])
def test_every_handler_named_is_the_method_the_host_calls(version):
    for f in by_version()[version].functions:
        if f.handler is None:
            assert getattr(Host, f.name) is getattr(Handlers, f.name)  # nobody overrides it
            assert (f.status, f.reason) == ("enosys", None)
        else:
            assert _resolve(f.handler) is getattr(Host, f.name)


@pytest.mark.parametrize("abi", [preview1, preview0], ids=["preview1", "unstable"])
def test_what_the_audit_says_is_what_the_stubs_answer(abi):
    """Every function called with zeros through the real stubs and Host:
    ENOSYS exactly for the functions the audit calls enosys."""
    version = by_version()["preview1" if abi is preview1 else "unstable"]
    host = Host(args=[], env=[], fds=FdTable(), return_on_exit=True)
    stubs = abi.bind(host, GuestMemory(bytes_source(bytearray(65536))))
    for f in version.functions:
        info = abi.FUNCTIONS[f.name]
        try:
            answer = stubs[f.name](*[0] * len(info.core_params))
        except ProcExit:
            answer = None
        assert (answer == Errno.NOSYS) == (f.status == "enosys"), f.name


class Wider(Host):
    def path_open(self, fd, dirflags, path, oflags, fs_rights_base, fs_rights_inheriting, fdflags):
        return 7

    @enosys("no sockets here")
    def sock_accept(self, fd, flags):
        raise WasiError(Errno.NOSYS)


def test_a_host_of_ones_own_is_audited_from_its_classes():
    v = {v.version: v for v in audit.audit_versions(Wider)}["preview1"]
    here = f"{__name__}.Wider"
    assert v.status("path_open") == audit.FunctionStatus(
        name="path_open", status="implemented", handler=f"{here}.path_open", reason=None
    )
    assert v.status("sock_accept") == audit.FunctionStatus(
        name="sock_accept", status="enosys", handler=f"{here}.sock_accept", reason="no sockets here"
    )
    assert v.status("fd_write").handler == "pywasi.handlers.calls.fd.FdCalls.fd_write"
    base = by_version()["preview1"]
    gained = base.status("path_open").status != "implemented"
    lost = base.status("sock_accept").status == "implemented"
    assert v.implemented == base.implemented + gained - lost


def _table_rows(text: str) -> dict[str, dict[str, tuple[str, str]]]:
    """The table format read back: version -> function -> (status, detail)."""
    out: dict = {}
    for line in text.splitlines():
        if line.startswith("host calls in C: "):  # the closing line, not a version
            continue
        if line and not line.startswith(" "):
            current = out.setdefault(line.split("(")[1].split(")")[0], {})
        elif line.strip():
            name, status, *detail = line.split(None, 2)
            current[name] = (status, detail[0] if detail else "")
    return out


def test_the_table_ends_saying_whether_calls_run_in_c():
    for fmt in ("table", "markdown"):
        last = pywasi_cli("audit", "--format", fmt).stdout.decode().splitlines()[-1]
        assert last == f"host calls in C: {native.STATUS}"


def test_cli_formats_parse_and_carry_the_same_data():
    as_json = pywasi_cli("audit", "--format", "json")
    table = pywasi_cli("audit")
    markdown = pywasi_cli("audit", "--format", "markdown")
    assert (as_json.returncode, table.returncode, markdown.returncode) == (0, 0, 0)
    data = json.loads(as_json.stdout)
    assert data == audit.versions_json(audit.audit_versions())
    assert set(data) == {"preview1", "unstable"}
    assert [(v["total"], len(v["functions"])) for v in data.values()] == [(46, 46), (45, 45)]
    for v in data.values():
        assert v["implemented"] == sum(f["status"] == "implemented" for f in v["functions"])
        assert all(set(f) == {"name", "status", "handler", "reason"} for f in v["functions"])

    rows = _table_rows(table.stdout.decode())
    lines = markdown.stdout.decode().splitlines()
    for version, v in data.items():
        title = next(line for line in table.stdout.decode().splitlines() if f"({version})" in line)
        assert title.endswith(f": {v['implemented']} of {v['total']} implemented")
        assert any(line.startswith("## ") and line.endswith(title.split(": ", 1)[1]) for line in lines)
        for f in v["functions"]:
            status = "implemented" if f["status"] == "implemented" else "ENOSYS"
            detail = f["handler"] if f["status"] == "implemented" else f["reason"] or ""
            assert rows[version][f["name"]] == (status, detail)
            handler = f"`{f['handler']}`" if f["handler"] else ""
            assert f"| `{f['name']}` | {status} | {handler} | {f['reason'] or ''} |" in lines
    assert sum(line.startswith("| `") for line in lines) == 46 + 45


# A module's imports ------------------------------------------------------------

PUTS = '#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n'


def audit_cli(*args):
    out = pywasi_cli("audit", *args)
    assert out.stderr == b""
    return out


def test_module_audit_lists_exactly_what_a_c_program_imports():
    wasm = compile_c(PUTS)
    out = audit_cli("--format", "json", str(wasm))
    data = json.loads(out.stdout)
    assert [i["name"] for i in data["wasi"]] == ["fd_fdstat_get", "fd_seek", "fd_write", "proc_exit", "fd_close"]
    assert {i["module"] for i in data["wasi"]} == {"wasi_snapshot_preview1"}
    assert all(i["signature_ok"] and i["signature"] == i["expected"] for i in data["wasi"])
    assert (data["kind"], data["entry"], data["exports_memory"], data["other"]) == ("command", "_start", True, [])
    statuses = by_version()["preview1"]
    for i in data["wasi"]:
        assert (i["status"], i["handler"], i["reason"]) == (
            statuses.status(i["name"]).status, statuses.status(i["name"]).handler, statuses.status(i["name"]).reason
        )
    # Exit 0 exactly when every import is implemented.
    assert out.returncode == (0 if all(i["status"] == "implemented" for i in data["wasi"]) else 1)
    assert data["ok"] == (out.returncode == 0)
    table = audit_cli(str(wasm)).stdout.decode().splitlines()
    assert table[0] == f"{wasm}: a command (exports _start)"
    assert table[1] == "imports from wasi_snapshot_preview1:"
    assert [line.split()[0] for line in table[2:7]] == [i["name"] for i in data["wasi"]]
    assert "  fd_write       implemented  pywasi.handlers.calls.fd.FdCalls.fd_write" in table


MISMATCHED = """
(module
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
  (import "wasi_snapshot_preview1" "no_such_call" (func))
  (import "env" "memory" (memory 1))
  (import "host" "call" (func (param i32 i64) (result i32)))
  (func (export "_initialize")))
"""


def test_a_wrong_import_signature_is_flagged(tmp_path):
    module = tmp_path / "mismatch.wat"
    module.write_text(MISMATCHED)
    out = audit_cli(str(module))
    assert out.returncode == 1
    assert out.stdout.decode() == (
        f"{module}: a reactor (exports _initialize)\n"
        "imports from wasi_snapshot_preview1:\n"
        "  fd_write      MISMATCH         declared (i32, i32) -> i32, the spec's is (i32, i32, i32, i32) -> i32\n"
        "  proc_exit     implemented      pywasi.handlers.calls.proc.Process.proc_exit\n"
        "  no_such_call  not in the spec  declared () -> ()\n"
        "other imports (not WASI):\n"
        "  env.memory  memory\n"
        "  host.call   func (i32, i64) -> i32\n"
        "note: it exports no memory: start() and initialize() need one named `memory`\n"
        "1 of 3 WASI imports implemented as the spec declares them\n"
    )
    data = json.loads(audit_cli("--format", "json", str(module)).stdout)
    assert [(i["name"], i["status"], i["signature_ok"]) for i in data["wasi"]] == [
        ("fd_write", "implemented", False), ("proc_exit", "implemented", True), ("no_such_call", "unknown", False)
    ]
    assert data["wasi"][0]["expected"] == "(i32, i32, i32, i32) -> i32"
    assert data["other"] == [
        {"module": "env", "name": "memory", "signature": "memory"},
        {"module": "host", "name": "call", "signature": "func (i32, i64) -> i32"},
    ]
    assert (data["kind"], data["entry"], data["exports_memory"], data["ok"]) == ("reactor", "_initialize", False, False)
    markdown = audit_cli("--format", "markdown", str(module)).stdout.decode()
    assert "| `wasi_snapshot_preview1.fd_write` | MISMATCH | declared (i32, i32) -> i32, the spec's is (i32, i32, i32, i32) -> i32 |" in markdown


def test_unstable_imports_are_checked_against_their_own_spec():
    # wasi_unstable has no sock_accept; its fd_seek takes its own whence, same lowering.
    module = wat("""(module
      (import "wasi_unstable" "fd_seek" (func (param i32 i64 i32 i32) (result i32)))
      (import "wasi_unstable" "sock_accept" (func (param i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
      (memory (export "memory") 1)
      (func (export "_start")))""")
    report = audit.audit_module(_compiled(module), "m")
    assert [(i.module, i.version, i.name, i.status, i.signature_ok) for i in report.wasi] == [
        ("wasi_unstable", "unstable", "fd_seek", by_version()["unstable"].status("fd_seek").status, True),
        ("wasi_unstable", "unstable", "sock_accept", "unknown", False),
        ("wasi_snapshot_preview1", "preview1", "proc_exit", "implemented", True),
    ]
    assert (report.kind, report.entry, report.exports_memory, report.ok) == ("command", "_start", True, False)
    assert "note: it imports both WASI namespaces: one instance is served one ABI" in audit.render_module(report, "table")


def test_a_module_that_imports_nothing_from_wasi_is_fine():
    report = audit.audit_module(_compiled(wat('(module (memory (export "memory") 1))')), "m")
    assert (report.kind, report.entry, report.wasi, report.ok) == ("reactor", None, (), True)
    assert audit.render_module(report, "table") == (
        "m: a reactor (exports neither _start nor _initialize)\n0 of 0 WASI imports implemented as the spec declares them\n"
    )


def test_exporting_both_entry_points_is_neither_kind():
    report = audit.audit_module(
        _compiled(wat('(module (memory (export "memory") 1) (func (export "_start")) (func (export "_initialize")))')), "m"
    )
    assert (report.kind, report.entry) == ("invalid", None)


def _compiled(wasm: bytes):
    import wasmtime

    return wasmtime.Module(wasmtime.Engine(), wasm)


@pytest.mark.parametrize("content, message", [
    (None, ": no such file"),
    (b"\0asm\x01\0\0\0\xff", ": not a valid WebAssembly module"),
    (b"hello", ": neither a wasm binary nor WAT text"),
    (b"(module (func $f (unknown)))", ":1:19: error in WAT text: unknown operator"),
])
def test_a_missing_or_bad_module_is_one_line_and_exit_2(tmp_path, content, message):
    path = tmp_path / "m.wasm"
    if content is not None:
        path.write_bytes(content)
    out = pywasi_cli("audit", str(path))
    assert out.returncode == 2 and out.stdout == b""
    assert out.stderr.startswith(f"pywasi: {path}{message}".encode()) and out.stderr.count(b"\n") == 1


def test_bad_format_is_a_usage_error():
    out = pywasi_cli("audit", "--format", "xml")
    assert out.returncode == 2 and out.stderr.count(b"\n") == 1


def test_the_spec_signature_is_the_lowered_one_the_bridge_registers():
    def expected(name):
        report = audit.audit_module(_compiled(wat(f'(module (import "wasi_snapshot_preview1" "{name}" (func)))')), "m")
        return report.wasi[0].expected

    assert expected("clock_time_get") == "(i32, i64, i32) -> i32"
    assert expected("proc_exit") == "(i32) -> ()"
    assert expected("args_sizes_get") == "(i32, i32) -> i32"
