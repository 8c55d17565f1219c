"""The README's examples run as written: its two commands of "Set up" and
every ```python block, in order, in one namespace (a block may go on from
the one before), from the root of the checkout."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.support import ROOT, pywasi_cli

README = (ROOT / "README.md").read_text()


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", README, re.MULTILINE | re.DOTALL)


def test_the_readme_has_python_examples():
    assert len(python_blocks()) >= 3


def test_every_python_example_runs_as_written():
    parts = []
    for number, block in enumerate(python_blocks(), 1):
        parts.append(f"print('-- block {number}', flush=True)\n{block}")
    # As `python -c`, as typed at a prompt: a process pool's workers then
    # need not import a main module.
    out = subprocess.run([sys.executable, "-c", "\n".join(parts)], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    blocks_run = out.stdout.count("-- block ")
    assert out.returncode == 0, f"block {blocks_run} failed:\n{out.stderr}"
    assert blocks_run == len(python_blocks())


def test_the_first_command_prints_hello_world():
    # "pywasi run examples/demo.wat", as Set up says (pywasi is installed here).
    assert "pywasi run examples/demo.wat" in README
    out = pywasi_cli("run", "examples/demo.wat", cwd=ROOT)
    assert (out.returncode, out.stdout, out.stderr) == (0, b"hello world\n", b"")
