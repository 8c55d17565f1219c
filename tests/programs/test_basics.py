"""Real programs under `pywasi run` and pywasi.run: a C program compiled with
wasi-libc prints its args, env and clocks; exit codes; both ABIs; the CLI's
one-line errors."""

from __future__ import annotations

import os

import pytest

from pywasi import ModuleError, run
from tests.support import compile_c, pywasi_cli, rename_import_module, run_captured

PROGRAM = "hello_args_env_time.c"
CLOCKS = b"realtime after 2020: yes\nmonotonic does not go back: yes\nresolution at most 1ms: yes\ncpu clock: yes\n"


def expected(argv: list[bytes], env: list[bytes]) -> bytes:
    out = b"argc=%d\n" % len(argv)
    out += b"".join(b"argv[%d]=%s\n" % (i, a) for i, a in enumerate(argv))
    out += b"".join(b"env %s\n" % e for e in env)
    return out + CLOCKS


def test_args_env_and_time_under_the_cli():
    wasm = compile_c(PROGRAM)
    out = pywasi_cli("run", "--env", "GREETING=hello", "--env", "EMPTY=", str(wasm), "one", "two words")
    assert out.returncode == 0
    assert out.stderr == b""
    assert out.stdout == expected([wasm.name.encode(), b"one", b"two words"], [b"GREETING=hello", b"EMPTY="])


def test_no_cache_from_the_command_line(tmp_path):
    env = dict(os.environ, PYWASI_CACHE=str(tmp_path))
    out = pywasi_cli("run", "--no-cache", str(compile_c(PROGRAM)), "9", env=env)
    assert out.returncode == 9 and list(tmp_path.iterdir()) == []
    out = pywasi_cli("run", str(compile_c(PROGRAM)), "9", env=env)
    assert out.returncode == 9 and len(list(tmp_path.glob("*.cwasm"))) == 1


def test_env_name_alone_passes_the_hosts_value():
    wasm = compile_c(PROGRAM)
    env = dict(os.environ, PYWASI_TEST_VALUE="from the host")
    out = pywasi_cli("run", "--env", "PYWASI_TEST_VALUE", "--env", "PYWASI_NOT_SET_ANYWHERE", str(wasm), env=env)
    assert out.stdout == expected([wasm.name.encode()], [b"PYWASI_TEST_VALUE=from the host"])


@pytest.mark.parametrize("code", [0, 1, 120, 255])
def test_exit_codes(code):
    wasm = compile_c(PROGRAM)
    assert pywasi_cli("run", str(wasm), str(code)).returncode == code
    assert run_captured(wasm, args=["p", str(code)])[0] == code


def test_non_ascii_args_and_env():
    argv = ["prog", "héllo", "日本語", "emoji 🎉"]
    env = {"NAME": "Zoë", "CITY": "Zürich"}
    code, out, err = run_captured(compile_c(PROGRAM), args=argv, env=env)
    assert (code, err) == (0, b"")
    assert out == expected([a.encode() for a in argv], [f"{k}={v}".encode() for k, v in env.items()])


def test_empty_args_and_env():
    # Node's host fails args_get with EINVAL when there are no arguments;
    # wasi-libc then aborts. Here it just works.
    code, out, _ = run_captured(compile_c(PROGRAM), args=[], env={})
    assert code == 0
    assert out == expected([], [])


def test_the_same_program_under_wasi_unstable():
    preview1 = compile_c(PROGRAM).read_bytes()
    unstable = rename_import_module(preview1, "wasi_snapshot_preview1", "wasi_unstable")
    for module in (preview1, unstable):
        code, out, _ = run_captured(module, args=["p", "x", "7"], env={"A": "b"})
        assert (code, out) == (7, expected([b"p", b"x", b"7"], [b"A=b"]))
    # The version is picked from the imports; asking for the other one fails to link.
    with pytest.raises(Exception, match="wasi_unstable"):
        run(unstable, version="preview1")


def test_cli_trap_is_one_line_and_134(tmp_path):
    module = tmp_path / "trap.wat"
    module.write_text('(module (memory (export "memory") 1) (func $boom (unreachable)) (func (export "_start") (call $boom)))')
    out = pywasi_cli("run", str(module))
    assert out.returncode == 134
    assert out.stdout == b""
    assert out.stderr == b"pywasi: trap: wasm `unreachable` instruction executed (in boom)\n"


def test_cli_trap_with_several_causes_is_the_innermost_without_its_number(tmp_path):
    # wasmtime numbers the causes of such a trap ("0: memory fault at ...",
    # "1: wasm trap: ..."); the line is the last, as it reads.
    module = tmp_path / "oob.wat"
    module.write_text(
        '(module (memory (export "memory") 1) (func $main (drop (i32.load (i32.const 70000))))'
        ' (func (export "_start") (call $main)))'
    )
    out = pywasi_cli("run", str(module))
    assert (out.returncode, out.stderr) == (134, b"pywasi: trap: out of bounds memory access (in main)\n")


def test_cli_trap_in_a_host_call_names_the_function(tmp_path):
    module = tmp_path / "bad.wat"
    module.write_text(
        '(module (import "wasi_snapshot_preview1" "random_get" (func $r (param i32 i32) (result i32)))'
        ' (memory (export "memory") 1) (func $fill (drop (call $r (i32.const 65530) (i32.const 100))))'
        ' (func (export "_start") (call $fill)))'
    )
    out = pywasi_cli("run", str(module))
    assert out.returncode == 134
    assert out.stderr == b"pywasi: trap: random_get: out of bounds: 100 bytes at 0xfffa, memory is 65536 bytes (in fill)\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.wasm"], b"pywasi: missing.wasm: no such file\n"),
        (["--frobnicate", "x.wasm"], b"pywasi run: unrecognized arguments: --frobnicate\n"),
        (["--wasi", "preview9", "x.wasm"], b"pywasi run: argument --wasi: invalid choice: 'preview9' (choose from 'auto', 'preview1', 'unstable')\n"),
        (["--dir", "/nonexistent-dir-for-pywasi", "x.wat"], b"pywasi: /nonexistent-dir-for-pywasi: No such file or directory\n"),
        ([], b"pywasi run: the following arguments are required: MODULE\n"),
        (["--env", "A=b"], b"pywasi run: the following arguments are required: MODULE\n"),
        (["--dir", ".::/data:rw", "x.wat"],
         b"pywasi run: --dir '.::/data:rw': unknown suffix ':rw' (HOST::GUEST is writable, HOST::GUEST:ro read-only)\n"),
        (["--dir", ".::/data:RO", "x.wat"],
         b"pywasi run: --dir '.::/data:RO': unknown suffix ':RO' (HOST::GUEST is writable, HOST::GUEST:ro read-only)\n"),
        (["--dir", "data:/data", "x.wat"],
         b"pywasi run: --dir 'data:/data': no such directory (to name the guest's path, use '::': data::/data)\n"),
    ],
)
def test_cli_usage_errors_are_one_line_and_2(tmp_path, args, message):
    (tmp_path / "x.wat").write_text('(module (memory (export "memory") 1) (func (export "_start")))')
    out = pywasi_cli("run", *args, cwd=tmp_path)
    assert (out.returncode, out.stdout, out.stderr) == (2, b"", message)


def component() -> bytes:
    """A WebAssembly component (what a WASI preview2 program is), assembled
    by hand: the component preamble (version 0x0d, layer 1), then one core
    module section holding an empty core module."""
    core = b"\0asm\x01\0\0\0"
    return b"\0asm\x0d\0\x01\0" + b"\x01" + bytes([len(core)]) + core


WASI_IMPORT = '(module (import "wasi_snapshot_preview1" "{name}" (func {signature})) {rest})'
COMMAND = '(memory (export "memory") 1) (func (export "_start"))'

# file name, its content, the one line that explains why it cannot run (up
# to a "..." at its end, where it depends on the compiler's output)
BAD_MODULES = [
    ("text.wasm", lambda: b"hello, not wasm", "neither a wasm binary nor WAT text (expected `(`)"),
    ("binary.wasm", lambda: bytes(range(256)), "neither a wasm binary nor WAT text (not UTF-8 text)"),
    ("empty.wasm", lambda: b"", "is empty, not a WebAssembly module"),
    ("truncated.wasm", lambda: compile_c(PROGRAM).read_bytes()[:100],
     "not a valid WebAssembly module: unexpected end-of-file (at offset 0x..."),
    ("header.wasm", lambda: b"\0asm", "not a valid WebAssembly module: unexpected end-of-file (at offset 0x4)"),
    ("component.wasm", component,
     "is a WebAssembly component (a WASI preview2 binary); pywasi runs core modules"),
    ("signature.wat", lambda: WASI_IMPORT.format(name="fd_write", signature="(param i32 i32) (result i32)", rest=COMMAND),
     "imports wasi_snapshot_preview1::fd_write as (i32, i32) -> i32, "
     "but wasi_snapshot_preview1 declares it (i32, i32, i32, i32) -> i32"),
    ("exit64.wat", lambda: WASI_IMPORT.format(name="proc_exit", signature="(param i64)", rest=COMMAND),
     "imports wasi_snapshot_preview1::proc_exit as (i64) -> (), but wasi_snapshot_preview1 declares it (i32) -> ()"),
    ("unknown.wat", lambda: WASI_IMPORT.format(name="fd_frobnicate", signature="", rest=COMMAND),
     "imports wasi_snapshot_preview1::fd_frobnicate, which wasi_snapshot_preview1 does not have"),
    ("nomemory.wat", lambda: '(module (func (export "_start")))',
     'exports no memory: a WASI program exports its linear memory as "memory"'),
    ("reactor.wat", lambda: '(module (memory (export "memory") 1) (func (export "_initialize")))',
     "exports no _start function: not a WASI command (it is a reactor: it exports _initialize)"),
    ("mistyped.wat", lambda: '(module (func (result i32) (i64.const 1)))',
     "not a valid WebAssembly module: Invalid input WebAssembly code at offset 26: type mismatch: expected i32, found i64"),
    ("noimports.wat", lambda: '(module (import "env" "f" (func)) (memory (export "memory") 1) (func (export "_start")))',
     "cannot be instantiated: unknown import: `env::f` has not been defined"),
]


# WAT text with an error: NAME:LINE:COLUMN, as compilers print it.
BAD_WAT = [
    ('(module\n  (memory (export "memory") 1)\n  (func (export "_start") (call $nope)))',
     "3:33: error in WAT text: unknown func: failed to find name `$nope`"),
    ("(module\n  (func $f (i32.const)))", "2:22: error in WAT text: expected a i32"),
    (";; a comment first\n(modul)", "2:2: error in WAT text: expected valid module field"),
    ("(module", "1:8: error in WAT text: expected `)`"),
]


@pytest.mark.parametrize("text, message", BAD_WAT)
def test_wat_errors_say_where(tmp_path, text, message):
    (tmp_path / "bad.wat").write_text(text)
    out = pywasi_cli("run", "bad.wat", cwd=tmp_path)
    assert (out.returncode, out.stdout, out.stderr) == (2, b"", f"pywasi: bad.wat:{message}\n".encode())
    with pytest.raises(ModuleError) as info:
        run(text.encode(), cache=False)
    assert str(info.value) == f"<bytes>:{message}"


def write_bad(directory, name, content) -> str:
    data = content()
    (directory / name).write_bytes(data if isinstance(data, bytes) else data.encode())
    return name


@pytest.mark.parametrize("name, content, message", BAD_MODULES, ids=[b[0] for b in BAD_MODULES])
def test_cli_bad_modules_are_one_line_and_2(tmp_path, name, content, message):
    out = pywasi_cli("run", write_bad(tmp_path, name, content), cwd=tmp_path)
    assert (out.returncode, out.stdout) == (2, b"")
    assert said(out.stderr.decode(), f"pywasi: {name}: {message}\n")


@pytest.mark.parametrize("name, content, message", BAD_MODULES, ids=[b[0] for b in BAD_MODULES])
def test_run_refuses_bad_modules_with_one_module_error(tmp_path, name, content, message):
    path = tmp_path / write_bad(tmp_path, name, content)
    with pytest.raises(ModuleError) as info:
        run(path, cache=False)
    assert said(str(info.value), f"{path}: {message}")


def said(text: str, expected: str) -> bool:
    if expected.rstrip("\n").endswith("..."):
        head = expected.rstrip("\n")[:-3]
        return text.startswith(head) and text.count("\n") == expected.count("\n")
    return text == expected


def test_dir_option_preopens(tmp_path):
    listing = compile_c(
        r"""
        #include <stdio.h>
        #include <wasi/api.h>
        int main(void) {
            for (__wasi_fd_t fd = 3;; fd++) {
                __wasi_prestat_t p;
                if (__wasi_fd_prestat_get(fd, &p) != 0) break;
                char name[256] = {0};
                __wasi_fd_prestat_dir_name(fd, (uint8_t *)name, p.u.dir.pr_name_len);
                printf("%d %s\n", fd, name);
            }
            return 0;
        }
        """
    )
    (tmp_path / "a").mkdir()
    out = pywasi_cli("run", "--dir", str(tmp_path), "--dir", f"{tmp_path / 'a'}::/data", str(listing))
    assert out.stdout == f"3 {tmp_path}\n4 /data\n".encode()


def raising(sig: int) -> str:
    """A command that raises `sig`, then prints proc_raise's errno and exits 0."""
    return f"""(module
      (import "wasi_snapshot_preview1" "proc_raise" (func $raise (param i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "_start")
        (i32.store8 (i32.const 100) (i32.add (i32.const 48) (call $raise (i32.const {sig}))))
        (i32.store (i32.const 0) (i32.const 100))
        (i32.store (i32.const 4) (i32.const 1))
        (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"""


@pytest.mark.parametrize("sig, name", [(6, "ABRT"), (9, "KILL"), (15, "TERM"), (2, "INT"), (30, "SYS")])
def test_proc_raise_of_a_signal_that_ends_a_process(tmp_path, sig, name):
    # In this very process: a signal sent to the host would end the test run.
    lines = []
    assert run_captured(raising(sig).encode(), trace=lines.append) == (128 + sig, b"", b"")
    assert str(lines[-1]) == f"proc_raise(sig={name}) -> killed by SIG{name}, exit {128 + sig}"
    module = tmp_path / "raise.wat"
    module.write_text(raising(sig))
    out = pywasi_cli("run", "--trace", str(module))
    assert (out.returncode, out.stdout) == (128 + sig, b"")
    assert out.stderr.decode().splitlines()[-1] == f"proc_raise(sig={name}) -> killed by SIG{name}, exit {128 + sig}"


@pytest.mark.parametrize("sig, errno", [(0, 0), (16, 0), (17, 0), (18, 0), (22, 0), (27, 0), (31, 28), (-1, 28)])
def test_proc_raise_of_a_signal_that_goes_on_or_of_none(sig, errno):
    # NONE, CHLD, CONT, STOP, URG, WINCH go on; a number the spec lacks is EINVAL (28).
    assert run_captured(raising(sig).encode()) == (0, bytes([48 + errno]), b"")
