"""The layering the runtime exists for: generated code imports the runtime at
the top of its modules, and neither the generated code, the runtime, the
handlers nor the facade import a pywasi module inside a function (which is
how an import cycle gets dodged). A fresh interpreter can import each of
them first."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

# The modules that must import pywasi only at their top. The command line
# (pywasi/cli.py) is left out: it defers work until a subcommand needs it.
LAYERS = ["generated", "handlers", "pywasi/runtime", "pywasi/wasi.py", "pywasi/bridge.py",
          "pywasi/trace.py", "pywasi/audit.py", "pywasi/native.py", "pywasi/runner.py", "pywasi/errors.py"]


def _files() -> list[Path]:
    out = []
    for layer in LAYERS:
        path = ROOT / layer
        out.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return out


def _inner_imports(path: Path) -> list[str]:
    found = []
    for func in ast.walk(ast.parse(path.read_text())):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(func):
            if isinstance(node, ast.ImportFrom):
                module = "." * node.level + (node.module or "")
                if node.level or module.startswith("pywasi"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: from {module}")
            elif isinstance(node, ast.Import):
                found += [f"{path.relative_to(ROOT)}:{node.lineno}: import {a.name}" for a in node.names
                          if a.name.startswith("pywasi")]
    return found


def test_no_pywasi_import_inside_a_function():
    assert [hit for path in _files() for hit in _inner_imports(path)] == []


def test_generated_code_imports_the_runtime_at_its_top():
    text = (ROOT / "generated" / "preview1.py").read_text()
    top = text[: text.index("\ndef ")]
    assert "from pywasi.runtime.errors import WasiError, errno_of" in top
    assert "from pywasi.runtime.decoders import" in top


@pytest.mark.parametrize(
    "module",
    ["pywasi.runtime.errors", "pywasi.runtime.memory", "pywasi.runtime.decoders", "pywasi.generated.preview0",
     "pywasi.generated.interface", "pywasi.handlers.fdtable", "pywasi.bridge", "pywasi.trace"],
)
def test_each_module_can_be_imported_first(module):
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True, cwd=ROOT)
