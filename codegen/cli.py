"""`pywasi gen` / `python -m pywasi.codegen`: regenerate generated/ from witx/."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="pywasi gen",
        description="Regenerate the marshalling layer (generated/) from the witx specs.",
    )
    parser.add_argument("--witx", type=Path, help="a directory holding one spec's .witx files")
    parser.add_argument("--out", type=Path, help="with --witx: the module file to write")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 naming the stale files"
    )
    args = parser.parse_args(argv)
    if (args.witx is None) != (args.out is None):
        parser.error("--witx and --out go together")
    try:
        from . import generate
        from .abi import LoweringError
        from .errors import WitxError
        from .translate import TranslationError
    except ImportError as e:  # lark, jinja2 or black missing
        print(f"pywasi gen: needs the codegen extra (pip install 'pywasi[codegen]'): {e}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    try:
        witx_root, out_dir = generate.default_paths()
        if args.witx is not None:
            outputs = generate.plan_custom(args.witx, args.out, witx_root)
        else:
            outputs = generate.plan(witx_root, out_dir)
    except WitxError as e:
        print(f"pywasi gen: {e}", file=sys.stderr)
        return 2
    except (LoweringError, TranslationError) as e:
        print(f"pywasi gen: {e}", file=sys.stderr)
        return 2
    if args.check:
        stale = generate.stale(outputs)
        for path in stale:
            print(f"stale: {path}", file=sys.stderr)
        if stale:
            print("pywasi gen: generated code differs from the spec; run `pywasi gen`", file=sys.stderr)
            return 1
        return 0
    written = generate.write(outputs)
    took = time.perf_counter() - started
    print(f"pywasi gen: {len(outputs)} files, {len(written)} changed, {took:.2f} s")
    return 0
