"""The resolved model: the project's witx and the upstream files give the same
types, layouts, functions and signatures."""

from __future__ import annotations

from pathlib import Path

import pytest

from pywasi.codegen import abi, model as m
from pywasi.codegen.layout import layout
from pywasi.codegen.resolve import load_dir

from tests.support import WITX

VERSIONS = {"preview1": "wasi_snapshot_preview1", "preview0": "wasi_unstable"}


@pytest.mark.parametrize("version", VERSIONS)
def test_project_and_upstream_give_the_same_model(version: str, upstream_witx: Path):
    ours = load_dir(WITX / version)
    theirs = load_dir(upstream_witx / version)
    assert ours == theirs
    # ...and so the same layouts and lowerings, which are functions of the model.
    assert [layout(t) for t in ours.types if not isinstance(t.type, (m.Int, m.Handle))] == [
        layout(t) for t in theirs.types if not isinstance(t.type, (m.Int, m.Handle))
    ]
    assert [(l.core_params, l.core_results) for l in abi.lower_spec(ours)] == [
        (l.core_params, l.core_results) for l in abi.lower_spec(theirs)
    ]
    # The comments are the project's own.
    assert ours.type("errno").doc != theirs.type("errno").doc


def test_counts():
    p1, p0 = load_dir(WITX / "preview1"), load_dir(WITX / "preview0")
    assert (len(p1.types), len(p0.types)) == (46, 46)
    assert (len(p1.functions), len(p0.functions)) == (46, 45)
    assert {f.name for f in p1.functions} - {f.name for f in p0.functions} == {"sock_accept"}
    assert len(m.unwrap(p1.type("errno")).cases) == 77
    assert (p1.module, p0.module) == ("wasi_snapshot_preview1", "wasi_unstable")


def test_unstable_differences_are_in_the_model():
    p1, p0 = load_dir(WITX / "preview1"), load_dir(WITX / "preview0")
    assert [c.name for c in m.unwrap(p0.type("whence")).cases] == ["cur", "end", "set"]
    assert [c.name for c in m.unwrap(p1.type("whence")).cases] == ["set", "cur", "end"]
    assert m.unwrap(p0.type("linkcount")).name == "u32"
    assert m.unwrap(p0.type("subscription_clock")).fields[0].name == "identifier"
    assert "sock_accept" not in [f.name for f in m.unwrap(p0.type("rights")).flags]


def test_model_is_hashable_and_comment_blind():
    a = m.Named(name="x", type=m.Int(name="u8"), doc="one")
    b = m.Named(name="x", type=m.Int(name="u8"), doc="two")
    assert a == b and hash(a) == hash(b)
