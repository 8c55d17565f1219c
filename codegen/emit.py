"""The driver: plans become text through jinja2 templates, then a formatter
(black for Python). Templates only lay out what the plans hold (codecs.py,
abi.py, trace_plan.py, pymodule.py). Same input, same bytes: no timestamps,
no absolute paths.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

REGENERATE = "pywasi gen"


@cache
def _environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["hexmask"] = lambda n: f"0x{n:X}"
    return env


def render(template: str, **context) -> str:
    """The template's output, not yet formatted (see format_sources)."""
    source = _environment().get_template(template).render(regenerate=REGENERATE, **context)
    return _drop_inner_blank_lines(source)


def _black(source: str) -> str:
    import black

    return black.format_str(source, mode=black.Mode(line_length=100, magic_trailing_comma=False))


def format_sources(sources: list[str]) -> list[str]:
    """black, on both cores when there are several files: it is most of the
    generator's time."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if len(sources) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return [_black(s) for s in sources]
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(_black, sources))


# The generated C's style: clang-format's LLVM style, 110 columns. The
# formatter's version is pinned by the codegen extra, so the bytes are stable.
C_STYLE = "{BasedOnStyle: LLVM, ColumnLimit: 110, ReflowComments: false}"


def format_c(source: str) -> str:
    """clang-format (the PyPI wheel's binary), on text."""
    import subprocess

    import clang_format

    done = subprocess.run(
        [clang_format.get_executable("clang-format"), f"--style={C_STYLE}", "--assume-filename=native.c"],
        input=source, capture_output=True, text=True, check=True,
    )
    return done.stdout


def _drop_inner_blank_lines(source: str) -> str:
    """Templates leave blank lines where a conditional printed nothing. Drop those
    inside indented blocks; black puts back the ones around definitions."""
    lines = source.splitlines()
    out = []
    in_string = False
    for i, line in enumerate(lines):
        if line.count('"""') % 2:
            in_string = not in_string
        if not line.strip() and not in_string:
            following = next((n for n in lines[i + 1 :] if n.strip()), "")
            if following[:1] in (" ", ")", "]", "}"):
                continue
            line = ""
        out.append(line)
    return "\n".join(out) + "\n"
