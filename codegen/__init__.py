"""pywasi's code generator: witx specs in, the marshalling layer out.

    grammar.lark -> syntax -> resolve (model) -> layout -> abi -> emit -> black

`plan()` says what `pywasi gen` writes: one stub module per ABI version, the
handler interface, and the package's __init__. Needs the `codegen` extra
(lark, jinja2, black); importing pywasi itself never loads it.
"""

from __future__ import annotations

from .generate import Output, default_paths, plan, plan_custom, stale, write

__all__ = ["Output", "default_paths", "plan", "plan_custom", "stale", "write"]
