"""The command line: `pywasi run`, `pywasi gen` (also `python -m pywasi`).

    pywasi run [--dir HOST[::GUEST[:ro]]]... [--env NAME[=VALUE]]... [--wasi auto|preview1|unstable] [--] MODULE [ARGS...]

Conventions are the wasmtime CLI's: the guest's argv[0] is the module's
name; the exit status is the guest's exit code; a trap prints one line and
exits 134; a missing file, a bad module or a bad option prints one line and
exits 2.
"""

from __future__ import annotations

import argparse
import os
import sys

EXIT_USAGE = 2
EXIT_TRAP = 134  # what wasmtime's CLI exits with on a trap (128 + SIGABRT)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2
        self.exit(EXIT_USAGE, f"{self.prog}: {message}\n")


def _run_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="pywasi run", description="Run a WASI command module (.wasm or .wat).")
    p.add_argument("--dir", action="append", default=[], metavar="HOST[::GUEST[:ro]]",
                   help="preopen the host directory HOST, seen by the guest as GUEST (default: HOST); "
                        "with :ro nothing under it can be written, created, renamed or deleted")
    p.add_argument("--env", action="append", default=[], metavar="NAME[=VALUE]",
                   help="set a guest environment variable; NAME alone passes the host's value")
    p.add_argument("--wasi", choices=("auto", "preview1", "unstable"), default="auto",
                   help="the ABI to serve (default: what the module imports)")
    p.add_argument("module", metavar="MODULE")
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS")
    return p


def _preopens(dirs: list[str]) -> dict:
    from .preopen import ReadOnly

    preopens = {}
    for spec in dirs:
        host, sep, guest = spec.partition("::")
        read_only = guest.endswith(":ro")
        if read_only:
            guest = guest[: -len(":ro")]
        if not host or (sep and not guest):
            raise ValueError(f"--dir {spec!r}: expected HOST, HOST::GUEST or HOST::GUEST:ro")
        preopens[guest or host] = ReadOnly(host) if read_only else host
    return preopens


def _environment(specs: list[str]) -> dict[str, str]:
    env = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not name:
            raise ValueError(f"--env {spec!r}: expected NAME or NAME=VALUE")
        if not sep:
            if name not in os.environ:
                continue  # like wasmtime: a NAME the host does not have is not passed
            value = os.environ[name]
        env[name] = value
    return env


def run_command(argv: list[str]) -> int:
    import wasmtime

    from .errors import ModuleError
    from .runner import describe_trap, run

    parser = _run_parser()
    ns = parser.parse_args(argv)
    args = ns.args[1:] if ns.args[:1] == ["--"] else ns.args
    try:
        preopens = _preopens(ns.dir)
        env = _environment(ns.env)
    except ValueError as e:
        parser.error(str(e))
    try:
        return run(ns.module, version=ns.wasi, args=[os.path.basename(ns.module), *args],
                   env=env, preopens=preopens)
    except ModuleError as e:
        print(f"pywasi: {e}", file=sys.stderr)
        return EXIT_USAGE
    except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
        print(f"pywasi: {describe_trap(e)}", file=sys.stderr)
        return EXIT_TRAP
    except (OSError, TypeError, ValueError) as e:  # a preopen that cannot be opened, a bad option
        print(f"pywasi: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("pywasi: interrupted", file=sys.stderr)
        return 130


def _one_line(e: Exception) -> str:
    if isinstance(e, OSError) and e.filename is not None:
        return f"{e.filename}: {e.strerror}"
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def gen_command(argv: list[str]) -> int:
    from pywasi.codegen.cli import main as gen  # imports nothing of lark & co. until it runs

    return gen(argv)


COMMANDS = {"run": run_command, "gen": gen_command}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: pywasi {run,gen} ...\n\n"
              "  run   run a WASI module (pywasi run --help)\n"
              "  gen   regenerate the ABI layer from witx (pywasi gen --help)")
        return 0 if argv else EXIT_USAGE
    command = COMMANDS.get(argv[0])
    if command is None:
        print(f"pywasi: unknown command {argv[0]!r} (try: {', '.join(COMMANDS)})", file=sys.stderr)
        return EXIT_USAGE
    return command(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
