"""The command line: `pywasi run`, `pywasi audit`, `pywasi gen` (also `python -m pywasi`).

    pywasi run [--dir HOST[::GUEST[:ro]]]... [--mount-memory GUEST]... [--overlay HOST::GUEST]...
               [--env NAME[=VALUE]]... [--tcplisten HOST:PORT]...
               [--wasi auto|preview1|unstable] [--no-cache] [--trace[=FILE]] [--trace-format text|chrome]
               [--stats] [--timeout SECONDS] [--max-memory SIZE] [--max-fuel N] [--max-output SIZE]
               [--max-fds N] [--usage[=FILE]] [--deterministic [--seed N]] [--] MODULE [ARGS...]
    pywasi audit [--format table|markdown|json] [MODULE]
    pywasi --version

Conventions are the wasmtime CLI's: the guest's argv[0] is the module's
name; the exit status is the guest's exit code; a trap prints one line and
exits 134; a missing file, a bad module or a bad option prints one line and
exits 2. `--trace` writes one line per host call to stderr (or FILE);
`--stats` prints a summary of the host calls to stderr at exit. Past
`--timeout` the guest is stopped, one line says so, and the exit status is
124, as timeout(1)'s; `--usage` writes what the run used as JSON at exit.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from pywasi.generated.versions import VERSIONS

EXIT_USAGE = 2
EXIT_TRAP = 134  # what wasmtime's CLI exits with on a trap (128 + SIGABRT)
EXIT_TIMEOUT = 124  # what timeout(1) exits with


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2
        self.exit(EXIT_USAGE, f"{self.prog}: {message}\n")


def _run_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="pywasi run", description="Run a WASI command module (.wasm or .wat).")
    p.add_argument("--dir", action="append", default=[], metavar="HOST[::GUEST[:ro]]",
                   help="preopen the host directory HOST, seen by the guest as GUEST (default: HOST); "
                        "with :ro nothing under it can be written, created, renamed or deleted")
    p.add_argument("--mount-memory", action="append", default=[], metavar="GUEST",
                   help="preopen an empty directory held in memory as GUEST (nothing written there reaches the disk)")
    p.add_argument("--overlay", action="append", default=[], metavar="HOST::GUEST",
                   help="preopen the host directory HOST as GUEST behind a copy-on-write layer: "
                        "the guest's changes stay in memory, HOST is never modified")
    p.add_argument("--env", action="append", default=[], metavar="NAME[=VALUE]",
                   help="set a guest environment variable; NAME alone passes the host's value")
    p.add_argument("--tcplisten", action="append", default=[], metavar="HOST:PORT",
                   help="hand the guest a socket listening on HOST:PORT (fds after stdio, in order)")
    p.add_argument("--no-cache", action="store_true",
                   help="compile the module afresh and keep nothing on disk")
    p.add_argument("--wasi", choices=("auto", *(v.name for v in VERSIONS)), default="auto",
                   help="the ABI to serve (default: what the module imports)")
    p.add_argument("--trace", metavar="FILE", nargs="?", const="-",
                   help="write one line per host call, decoded, to FILE (give it as --trace=FILE; default: stderr)")
    p.add_argument("--trace-format", choices=("text", "chrome"), default="text",
                   help="text: a line per call; chrome: Trace Event JSON, which Perfetto and chrome://tracing open")
    p.add_argument("--deterministic", action="store_true",
                   help="the same run for the same inputs: virtual clocks from 2000-01-01, sleeps that take no "
                        "time, seeded random bytes, directories listed in byte order")
    p.add_argument("--seed", type=int, default=0, metavar="N",
                   help="with --deterministic, the seed of the random bytes (default: 0)")
    p.add_argument("--stats", action="store_true",
                   help="at exit, print each function called, its call count, errnos and time in the host")
    # Limits, for untrusted code.
    p.add_argument("--timeout", type=_seconds, metavar="SECONDS",
                   help="stop the guest after SECONDS of wall clock, wherever it is; exit 124")
    p.add_argument("--max-memory", type=_size, metavar="SIZE",
                   help="the most linear memory the guest may grow to (bytes, or 64K, 64M, 1G)")
    p.add_argument("--max-fuel", type=_count, metavar="N",
                   help="the most fuel (about one unit per instruction) the guest may burn; then it traps")
    p.add_argument("--max-output", type=_size, metavar="SIZE",
                   help="the most the guest may write to stdout, and to stderr; past it writes fail (EFBIG)")
    p.add_argument("--max-fds", type=_count, metavar="N",
                   help="the most descriptors the guest may hold open, stdio included")
    p.add_argument("--usage", metavar="FILE", nargs="?", const="-",
                   help="at exit, write what the run used as JSON to FILE (give it as --usage=FILE; default: stderr)")
    p.add_argument("module", metavar="MODULE")
    # The guest's arguments: optional, though argparse would list them as
    # required when MODULE is missing.
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS").required = False
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
        suffix = _SUFFIX.search(guest)
        if suffix:
            raise ValueError(
                f"--dir {spec!r}: unknown suffix {suffix[0]!r} (HOST::GUEST is writable, HOST::GUEST:ro read-only)"
            )
        if not sep and ":" in host and not os.path.lexists(host):
            head, _, tail = host.partition(":")
            raise ValueError(f"--dir {spec!r}: no such directory (to name the guest's path, use '::': {head}::{tail})")
        preopens[guest or host] = ReadOnly(host) if read_only else host
    return preopens


def _mount_memory(preopens: dict, guests: list[str]) -> None:
    from pywasi import MemoryDir

    for guest in guests:
        if not guest:
            raise ValueError("--mount-memory '': expected GUEST, the guest's path")
        if guest in preopens:
            raise ValueError(f"--mount-memory {guest!r}: {guest!r} is already preopened")
        preopens[guest] = MemoryDir()


def _overlays(preopens: dict, specs: list[str]) -> None:
    for spec in specs:
        host, sep, guest = spec.partition("::")
        if not host or not sep or not guest:
            raise ValueError(f"--overlay {spec!r}: expected HOST::GUEST")
        if guest in preopens:
            raise ValueError(f"--overlay {spec!r}: {guest!r} is already preopened")
        preopens[guest] = _LazyOverlay(host)


class _LazyOverlay:
    """An Overlay opened where the other preopens are (so that a missing
    HOST fails as --dir's does), not while the options are read."""

    def __init__(self, host: str):
        self.host = host

    def preopen(self, name: str, read_only: bool):
        from pywasi import Overlay

        return Overlay(self.host).preopen(name, read_only)


# What looks like a misspelt :ro at the end of a guest path (a guest path may
# hold a colon elsewhere).
_SUFFIX = re.compile(r":[A-Za-z]+$")


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


_SIZES = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def _size(text: str) -> int:
    """Bytes: a count, or one with a K, M or G suffix (binary: 64M is 64 MiB)."""
    number, unit = text[:-1] if text[-1:].isalpha() else text, text[-1:].upper() if text[-1:].isalpha() else ""
    if unit not in _SIZES or not number.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (bytes, or with K, M or G: 64M, 1G)")
    return int(number) * _SIZES[unit]


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a count (a whole number)")
    return int(text)


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return seconds


def _bare_trace(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """A bare --trace or --usage (before the module) means stderr: it never
    takes the next word, which is the module or another option."""
    valued = {o for action in parser._actions if action.nargs is None for o in action.option_strings}
    out = list(argv)
    i = 0
    while i < len(out):
        token = out[i]
        if token in ("--trace", "--usage"):
            out[i] = token + "=-"
        elif token in valued:
            i += 1  # its value
        elif token == "--" or not token.startswith("-"):
            break  # the module: what follows is the guest's
        i += 1
    return out


def run_command(argv: list[str]) -> int:
    import wasmtime

    from . import progress
    from .errors import ModuleError
    from .results import TimeoutExpired
    from .runner import Job, describe_trap
    from .trace import Stats

    parser = _run_parser()
    ns = parser.parse_args(_bare_trace(parser, argv))
    args = ns.args[1:] if ns.args[:1] == ["--"] else ns.args
    try:
        preopens = _preopens(ns.dir)
        _mount_memory(preopens, ns.mount_memory)
        _overlays(preopens, ns.overlay)
        env = _environment(ns.env)
    except ValueError as e:
        parser.error(str(e))
    stats = Stats() if ns.stats else None
    try:
        trace = _trace_file(ns.trace)
    except OSError as e:
        print(f"pywasi: --trace: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE
    limits = {name: value for name, value in (("max_output", ns.max_output), ("max_fds", ns.max_fds))
              if value is not None}
    job = None
    try:
        job = Job(ns.module, version=ns.wasi, args=[os.path.basename(ns.module), *args], env=env,
                  preopens=preopens, cache=not ns.no_cache, timeout=ns.timeout, max_memory=ns.max_memory,
                  max_fuel=ns.max_fuel, **limits, wasi_options={"sockets": ns.tcplisten, "trace": trace,
                                                                 "trace_format": ns.trace_format, "stats": stats,
                                                                 "deterministic": ns.deterministic, "seed": ns.seed})
        with progress.shown_on(sys.stderr):
            result = job.run()
        code = result.returncode
        if result.trap is not None:
            print(f"pywasi: trap: {result.trap}", file=sys.stderr)
    except TimeoutExpired as e:
        print(f"pywasi: timed out after {e.timeout:g} seconds", file=sys.stderr)
        code = EXIT_TIMEOUT
    except ModuleError as e:
        print(f"pywasi: {e}", file=sys.stderr)
        return EXIT_USAGE
    except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
        print(f"pywasi: {describe_trap(e)}", file=sys.stderr)
        code = EXIT_TRAP
    except (OSError, TypeError, ValueError) as e:  # a preopen that cannot be opened, a bad option
        print(f"pywasi: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("pywasi: interrupted", file=sys.stderr)
        code = 130
    finally:
        if trace not in (None, sys.stderr):
            trace.close()
    if stats is not None:
        sys.stderr.write(stats.report())
    if ns.usage is not None and job is not None and job.usage is not None:
        if not _write_usage(ns.usage, job.usage):
            return EXIT_USAGE
    return code


def _write_usage(name: str, usage) -> bool:
    import dataclasses
    import json

    text = json.dumps(dataclasses.asdict(usage)) + "\n"
    if name == "-":
        sys.stderr.write(text)
        return True
    try:
        with open(name, "w") as f:
            f.write(text)
    except OSError as e:
        print(f"pywasi: --usage: {_one_line(e)}", file=sys.stderr)
        return False
    return True


def _trace_file(name: str | None):
    if name is None:
        return None
    if name == "-":
        return sys.stderr
    return open(name, "wb")


def _one_line(e: Exception) -> str:
    if isinstance(e, OSError) and e.filename is not None:
        return f"{e.filename}: {e.strerror}"
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def _audit_parser() -> argparse.ArgumentParser:
    from .audit import FORMATS

    p = _Parser(
        prog="pywasi audit",
        description="Every WASI function pywasi implements, per ABI version; or, given a module, "
        "whether what it imports is implemented (exit 0) or not (exit 1).",
    )
    p.add_argument("--format", choices=FORMATS, default="table", help="how to print it (default: table)")
    p.add_argument("module", metavar="MODULE", nargs="?", help="a .wasm or .wat module to audit")
    return p


def audit_command(argv: list[str]) -> int:
    import wasmtime

    from . import audit
    from .errors import ModuleError
    from .runner import compile_module, read_module

    ns = _audit_parser().parse_args(argv)
    if ns.module is None:
        sys.stdout.write(audit.render_versions(audit.audit_versions(), ns.format))
        return 0
    try:
        data, name = read_module(ns.module)
        module = compile_module(wasmtime.Engine(), data, name)
    except ModuleError as e:
        print(f"pywasi: {e}", file=sys.stderr)
        return EXIT_USAGE
    report = audit.audit_module(module, name)
    sys.stdout.write(audit.render_module(report, ns.format))
    return 0 if report.ok else 1


def gen_command(argv: list[str]) -> int:
    from pywasi.codegen.cli import main as gen  # imports nothing of lark & co. until it runs

    return gen(argv)


def version_line() -> str:
    """pywasi's version and the wasmtime it runs on: what a bug report needs."""
    from importlib.metadata import version

    from . import __version__

    return f"pywasi {__version__} (wasmtime {version('wasmtime')})"


COMMANDS = {"run": run_command, "audit": audit_command, "gen": gen_command}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: pywasi {run,audit,gen} ...\n"
              "       pywasi --version\n\n"
              "  run     run a WASI module (pywasi run --help)\n"
              "  audit   what pywasi implements, or what a module needs (pywasi audit --help)\n"
              "  gen     regenerate the ABI layer from witx (pywasi gen --help)")
        return 0 if argv else EXIT_USAGE
    if argv[0] in ("-V", "--version"):
        print(version_line())
        return 0
    command = COMMANDS.get(argv[0])
    if command is None:
        print(f"pywasi: unknown command {argv[0]!r} (try: {', '.join(COMMANDS)})", file=sys.stderr)
        return EXIT_USAGE
    return command(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
