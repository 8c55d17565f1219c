"""What a package carries besides its code: the version (one source, the
package metadata), the licence, the changelog."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import version

import pytest

import pywasi
from tests.support import ROOT, pywasi_cli


def pyproject_version() -> str:
    if sys.version_info < (3, 11):
        pytest.skip("tomllib is Python 3.11+")
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_version_is_the_package_metadatas():
    assert pywasi.__version__ == version("pywasi") == pyproject_version()


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_on_the_command_line(flag):
    out = pywasi_cli(flag)
    assert (out.returncode, out.stderr) == (0, b"")
    assert out.stdout == f"pywasi {pywasi.__version__} (wasmtime {version('wasmtime')})\n".encode()


def test_licence_is_the_apache_licence_in_full():
    text = (ROOT / "LICENSE").read_text()
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "END OF TERMS AND CONDITIONS" in text
    # all nine sections of the terms
    assert [int(n) for n in re.findall(r"^\s+(\d)\. \w", text, re.MULTILINE)] == list(range(1, 10))


def test_changelog_has_an_unreleased_section_and_this_version():
    text = (ROOT / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## \[?([^\]\s]+)", text, re.MULTILINE)
    assert headings[0] == "Unreleased"
    assert pywasi.__version__ in headings


STALE = """
import sys, types
stale = types.ModuleType("pywasi._native")  # as a binary built from older sources answers
def init(trap_new, caller_context, memory_data, memory_data_size, main_thread):
    pass
stale.init = init
sys.modules["pywasi._native"] = stale
from pywasi import native, run
print(native.ENABLED)
print(native.STATUS)
print(run(sys.argv[1]).returncode)
"""


def test_an_extension_built_from_other_sources_is_left_off():
    # A stale binary beside newer Python (an in-place build not redone) must
    # not break `import pywasi`: the pure-Python bridge serves, and the
    # status says why (before: TypeError at import, even for pywasi gen).
    module = ROOT / "examples" / "demo.wat"
    env = {k: v for k, v in os.environ.items() if k != "PYWASI_NATIVE"}
    out = subprocess.run([sys.executable, "-c", STALE, str(module)], capture_output=True, text=True, cwd=ROOT,
                         timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    enabled, status, *output, code = out.stdout.splitlines()
    assert (enabled, output, code) == ("False", ["hello world"], "0")
    assert status.startswith("off: the extension does not match this pywasi (") and "rebuild it" in status
