"""The generated files: up to date, deterministic, and not needed to import pywasi."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pywasi.codegen import generate

from tests.support import ROOT


def test_checked_in_files_are_what_the_spec_gives():
    witx, out = generate.default_paths()
    outputs = generate.plan(witx, out)
    assert sorted(o.path.name for o in outputs) == [
        "__init__.py", "errno.py", "interface.py", "native.c", "native.h", "preview0.py", "preview1.py", "versions.py"
    ]
    assert generate.stale(outputs) == []


def test_same_input_same_bytes(tmp_path: Path):
    witx, _ = generate.default_paths()
    first = [o.text for o in generate.plan(witx, tmp_path)]
    second = [o.text for o in generate.plan(witx, tmp_path)]
    assert first == second
    for text in first:
        assert "DO NOT EDIT" in text.splitlines()[1] or "DO NOT EDIT" in text.splitlines()[0]
        assert str(ROOT) not in text  # no machine paths


def test_check_names_a_stale_file(tmp_path: Path):
    witx, out = generate.default_paths()
    outputs = generate.plan(witx, tmp_path)
    generate.write(outputs)
    target = tmp_path / "preview0.py"
    target.write_text(target.read_text().replace("MODULE = ", "MODULE  = "))
    assert generate.stale(outputs) == [target]


def test_check_from_the_command_line():
    out = subprocess.run([sys.executable, "-m", "pywasi.codegen", "--check"], capture_output=True, text=True)
    assert (out.returncode, out.stderr) == (0, "")


def test_custom_spec_translates_onto_the_canonical_types(tmp_path: Path):
    # wasi_unstable, generated as a spec of one's own, gives the checked-in module.
    witx, out = generate.default_paths()
    (o,) = generate.plan_custom(witx / "preview0", tmp_path / "mine.py", witx)
    assert o.text.replace("\n", "") .split("MODULE =")[1] == (out / "preview0.py").read_text().replace("\n", "").split("MODULE =")[1]


def test_importing_pywasi_loads_no_generator_dependency():
    code = "import sys, pywasi, pywasi.generated.preview1, pywasi.generated.preview0; print(sorted(m for m in ('lark', 'jinja2', 'black') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
