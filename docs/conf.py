"""Sphinx settings for pywasi's documentation: `python -m sphinx -W docs OUT`
(the `docs` extra has what it needs)."""

from importlib.metadata import version as _version

project = "pywasi"
author = "the pywasi authors"
copyright = "the pywasi authors; Apache-2.0"
release = _version("pywasi")
version = ".".join(release.split(".")[:2])

extensions = ["sphinx.ext.autodoc"]

# Signatures as written; the types of WASI's options under their names in
# pywasi.options rather than spelt out.
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autodoc_type_aliases = {
    name: f"pywasi.options.{name}"
    for name in ("Args", "Env", "Preopens", "PreopenTarget", "Stdin", "Output", "Sockets", "TraceTarget", "HostPath")
}
autodoc_default_options = {"members": True, "undoc-members": False}

html_theme = "alabaster"
html_title = f"pywasi {release}"
exclude_patterns = ["_build"]
