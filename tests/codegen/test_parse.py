"""The grammar and the syntax tree: every construct of the witx files, comments
kept where they belong, and bad input reported as file:line:column."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pywasi.codegen import syntax
from pywasi.codegen.errors import WitxError
from pywasi.codegen.resolve import load, load_dir

from tests.support import WITX


def parse(text: str) -> syntax.Document:
    return syntax.parse(text, "t.witx")


def test_upstream_files_parse_unchanged(upstream_witx: Path):
    for path in sorted(upstream_witx.glob("*/*.witx")):
        doc = syntax.parse(path.read_text(), str(path))
        assert doc.typenames or doc.modules


def test_comments_of_every_kind():
    doc = parse(
        """
        ;; a line comment
        (; a block
           comment ;)
        ;;; The doc of $a,
        ;;; on two lines.
        (typename $a (; inline ;) u32) ;; trailing
        ;;; dangling doc at the end of the file is dropped
        """
    )
    (a,) = doc.typenames
    assert a.name == "a" and a.type == syntax.IntType(loc=a.loc, name="u32")
    assert a.doc == "The doc of $a,\non two lines."
    assert (a.loc.line, a.loc.column) == (7, 9)


def test_docs_attach_to_cases_fields_and_functions():
    doc = parse(
        """
        (typename $e (enum (@witx tag u8) ;;; first
          $one ;;; second
          $two))
        (typename $r (record ;;; the field
          (field $f $e)))
        (module $m (import "memory" (memory))
          ;;; the function
          (@interface func (export "f") ;;; the param
            (param $p $r)
            (result $error (expected (error $e)))
            (@witx noreturn)))
        """
    )
    e, r = doc.typenames
    assert [(c.name, c.doc) for c in e.type.cases] == [("one", "first"), ("two", "second")]
    assert r.type.fields[0].doc == "the field"
    (f,) = doc.modules[0].funcs
    assert (f.name, f.doc, f.params[0].doc, f.noreturn) == ("f", "the function", "the param", True)


def test_every_type_form():
    doc = parse(
        """
        (typename $h (handle))
        (typename $f (flags (@witx repr u16) $x $y))
        (typename $u (union (@witx tag $t) $a $b))
        (typename $v (variant (@witx tag u8) (case $none) (case $some u32)))
        (typename $l (list $x))
        (typename $p (@witx pointer (@witx const_pointer u8)))
        (typename $s (@witx usize))
        (typename $c (@witx char8))
        (typename $e (expected (tuple $size string) (error $errno)))
        """
    )
    kinds = [type(t.type).__name__ for t in doc.typenames]
    assert kinds == ["Handle", "Flags", "Union", "Variant", "List", "Pointer", "Usize", "Char8", "Expected"]
    assert doc.typenames[2].type.tag.name == "t"
    assert [c.name for c in doc.typenames[2].type.cases] == ["a", "b"]
    assert doc.typenames[5].type.target.const is True
    assert [type(i).__name__ for i in doc.typenames[8].type.ok.items] == ["Ref", "StringType"]


BAD = [
    ("(typename $a u32", "t.witx:2:1: unexpected '(', expected ')'"),
    ("(typename $a u33)", "t.witx:1:14: unexpected 'u33'"),
    ("(typename $a (record (field $f $nope)))", "t.witx:1:32: unknown type $nope"),
    ("(typename $a u32)\n(typename $a u64)", "t.witx:2:1: duplicate typename $a (first at t.witx:1:1)"),
    (
        "(typename $r (record (field $f (enum (@witx tag u8) $x))))",
        "t.witx:1:33: anonymous enum: declare it with (typename $name ...)",
    ),
    ('(use "missing.witx")', 't.witx:1:1: use of missing file "missing.witx"'),
    ("(typename $e (enum (@witx tag u8) $x $x))", "t.witx:1:38: duplicate case $x (first at t.witx:1:35)"),
    ("(typename $a @)", "t.witx:1:14: unexpected character '@'"),
    ("(typename $a u32))", "t.witx:1:18: unexpected ')', expected '('"),
]


def test_unbalanced_at_end_of_file(tmp_path: Path):
    (tmp_path / "t.witx").write_text("(typename $a u32")
    with pytest.raises(WitxError, match=r"t.witx:1:17: unexpected end of file \(unbalanced parentheses\?\)$"):
        load(tmp_path / "t.witx")


@pytest.mark.parametrize("text, message", BAD, ids=[m.split(": ", 1)[1][:30] for _, m in BAD])
def test_bad_witx_is_one_line_with_location(tmp_path: Path, text: str, message: str):
    (tmp_path / "t.witx").write_text(text + '\n(module $m (import "memory" (memory)))\n')
    with pytest.raises(WitxError) as info:
        load(tmp_path / "t.witx")
    shown = str(info.value).replace(str(tmp_path) + "/", "")
    assert shown == message


def test_bad_witx_from_the_command_line(tmp_path: Path):
    (tmp_path / "spec.witx").write_text('(module $m (import "memory" (memory))\n  (@interface func (export "f") (param $p $nope)))\n')
    out = subprocess.run(
        [sys.executable, "-m", "pywasi.codegen", "--witx", str(tmp_path), "--out", str(tmp_path / "out.py")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert out.stdout == ""
    assert out.stderr == f"pywasi gen: {tmp_path}/spec.witx:2:43: unknown type $nope\n"
    assert not (tmp_path / "out.py").exists()


def test_use_is_resolved_relative_to_the_including_file(tmp_path: Path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "types.witx").write_text("(typename $t u8)")
    (tmp_path / "main.witx").write_text(
        '(use "sub/types.witx")\n(module $m (import "memory" (memory))\n'
        '  (@interface func (export "f") (param $x $t) (result $error (expected (error $t)))))'
    )
    spec = load_dir(tmp_path)
    assert spec.functions[0].params[0].type.name == "t"
    assert [Path(s).name for s in spec.sources] == ["main.witx", "types.witx"]


def test_project_witx_is_the_projects_own_text(upstream_witx: Path):
    # Same declarations, other comments: the model test proves the first half.
    for path in WITX.glob("*/*.witx"):
        assert path.read_text() != (upstream_witx / path.relative_to(WITX)).read_text()
