"""Every public name of pywasi has a docstring, and the docstring of each
function or class names each of its parameters (the API reference in docs/
is built from them, in CI)."""

from __future__ import annotations

import inspect
import re

import pytest

import pywasi


def documented(obj) -> str:
    parts = [inspect.getdoc(obj) or ""]
    if inspect.isclass(obj) and "__init__" in vars(obj):
        parts.append(inspect.getdoc(obj.__init__) or "")
    return "\n".join(parts)


def parameters(obj) -> list[str]:
    target = obj.__init__ if inspect.isclass(obj) else obj
    if target is object.__init__ or not callable(target):
        return []
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return []
    skipped = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return [p.name for p in signature.parameters.values() if p.name not in ("self", "cls") and p.kind not in skipped]


@pytest.mark.parametrize("name", pywasi.__all__)
def test_a_public_name_documents_itself_and_its_parameters(name):
    obj = getattr(pywasi, name)
    text = documented(obj)
    assert text.strip(), f"pywasi.{name} has no docstring"
    missing = [p for p in parameters(obj) if not re.search(rf"\b{re.escape(p)}\b", text)]
    assert not missing, f"pywasi.{name}'s docstring does not say what {', '.join(missing)} is"


def test_every_public_name_is_in_the_api_reference():
    from tests.support import ROOT

    reference = (ROOT / "docs" / "api.rst").read_text()
    listed = set(re.findall(r"^\.\. auto(?:class|function|exception):: (\w+)", reference, re.MULTILINE))
    assert listed == set(pywasi.__all__)
