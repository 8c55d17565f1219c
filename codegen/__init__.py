"""pywasi's code generator: witx specs in, the marshalling layer out.

    grammar.lark -> syntax -> resolve (model) -> layout -> abi (typed lowering)
    -> codecs, trace_plan, pymodule (what each template prints) -> emit (jinja2, black)

Every name the generated code uses comes from naming.py. `plan()` says what
`pywasi gen` writes: one stub module per ABI version, the handler interface,
the canonical errno, the version table, and the package's __init__. Needs the `codegen` extra
(lark, jinja2, black); importing pywasi itself never loads it.
"""

from __future__ import annotations

from .generate import Output, default_paths, plan, plan_custom, stale, write

__all__ = ["Output", "default_paths", "plan", "plan_custom", "stale", "write"]
