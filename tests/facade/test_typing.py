"""pywasi's types as a user's type checker sees them: pywasi installed as pip
installs it (the py.typed marker shipped), a script over the whole public
API passing `mypy --strict`, and mistyped options caught."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

pytest.importorskip("mypy", reason="mypy is in the test extra: pip install -e '.[test]'")

SCRIPT = Path(__file__).with_name("typed_script.py")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """pywasi as pip installs it from this tree (into a folder of its own)."""
    # From a copy without build/: setuptools ships what a stale build/lib holds.
    source = tmp_path_factory.mktemp("source") / "pywasi"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "*.egg-info", "__pycache__", ".*cache", ".hypothesis", "tests", "benchmarks"))
    target = tmp_path_factory.mktemp("site")
    out = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile", "--target", str(target), str(source)],
        capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stderr
    return target


def mypy(installed: Path, script: Path, *options: str) -> subprocess.CompletedProcess:
    """mypy on `script`, from a folder of its own (so that the source tree is
    not on its path), with pywasi found where it is installed."""
    workdir = script.parent
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", "--cache-dir", str(workdir / ".mypy_cache"),
         *options, script.name],
        cwd=workdir, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(installed), MYPYPATH=""),
    )


def test_the_marker_is_installed(installed):
    assert (installed / "pywasi" / "py.typed").is_file()
    (record,) = installed.glob("pywasi-*.dist-info/RECORD")
    assert "pywasi/py.typed," in record.read_text()


def test_a_script_over_the_public_api_passes_mypy_strict(installed, tmp_path):
    script = tmp_path / SCRIPT.name
    shutil.copy(SCRIPT, script)
    out = mypy(installed, script, "--strict")
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")


def test_the_script_runs():
    out = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True)
    assert (out.returncode, out.stderr) == (0, "")


# Each line a mistake a type checker must catch (the runtime does too).
MISTAKES = [
    "WASI(args=5)",
    "WASI(env=['A=b'])",
    "WASI(env={'A': 5})",
    "WASI(preopens={'/x': 5})",
    "WASI(stdin=io.StringIO())",
    "WASI(stdout=io.StringIO())",
    "WASI(stderr='2')",
    "WASI(sockets=[5])",
    "WASI(max_fds='64')",
    "WASI(return_on_exit=1.5)",
    "WASI(trace='trace.log')",
    "WASI(stats=True)",
    "WASI().start(None, None)",
    "pywasi.run(5)",
    "ReadOnly(5)",
]


def test_mistyped_options_do_not_type_check(installed, tmp_path):
    script = tmp_path / "mistakes.py"
    script.write_text("import io\nimport pywasi\nfrom pywasi import WASI, ReadOnly\n" + "\n".join(MISTAKES) + "\n")
    out = mypy(installed, script, "--strict")
    flagged = {int(line.split(":")[1]) for line in out.stdout.splitlines() if ": error:" in line}
    assert flagged == set(range(4, 4 + len(MISTAKES))), out.stdout
