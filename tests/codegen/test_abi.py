"""Lowered signatures: the examples the ABI is known by, and every preview1
function checked against wasmtime's own WASI, which refuses to link an import
whose signature differs from its own."""

from __future__ import annotations

import pytest
import wasmtime

from pywasi.generated import preview0, preview1

EXAMPLES = {
    "path_open": ("i32 i32 i32 i32 i32 i64 i64 i32 i32", "i32"),
    "fd_seek": ("i32 i64 i32 i32", "i32"),
    "clock_time_get": ("i32 i64 i32", "i32"),
    "path_filestat_set_times": ("i32 i32 i32 i32 i64 i64 i32", "i32"),
    "proc_exit": ("i32", ""),
    "sched_yield": ("", "i32"),
    "fd_write": ("i32 i32 i32 i32", "i32"),
    "poll_oneoff": ("i32 i32 i32 i32", "i32"),
    "sock_recv": ("i32 i32 i32 i32 i32 i32", "i32"),
}


@pytest.mark.parametrize("name", EXAMPLES)
def test_known_signatures(name):
    for module in (preview1, preview0):
        if name in module.FUNCTIONS:
            f = module.FUNCTIONS[name]
            assert (" ".join(f.core_params), " ".join(f.core_results)) == EXAMPLES[name]


def importing_module(module, namespace: str, override: dict | None = None) -> str:
    lines = []
    for f in module.FUNCTIONS.values():
        params, results = override.get(f.name, (f.core_params, f.core_results)) if override else (f.core_params, f.core_results)
        result = f" (result {' '.join(results)})" if results else ""
        lines.append(f'(import "{namespace}" "{f.name}" (func (param {" ".join(params)}){result}))')
    return "(module\n" + "\n".join(lines) + '\n(memory (export "memory") 1))'


def test_every_preview1_signature_links_against_wasmtimes_wasi():
    engine = wasmtime.Engine()
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    store = wasmtime.Store(engine)
    store.set_wasi(wasmtime.WasiConfig())
    linker.instantiate(store, wasmtime.Module(engine, importing_module(preview1, "wasi_snapshot_preview1")))
    # The oracle does refuse a wrong one.
    wrong = importing_module(preview1, "wasi_snapshot_preview1", {"fd_seek": (("i32", "i32", "i32", "i32"), ("i32",))})
    with pytest.raises(wasmtime.WasmtimeError, match="fd_seek"):
        linker.instantiate(wasmtime.Store(engine), wasmtime.Module(engine, wrong))


def test_unstable_signatures_equal_preview1s():
    # wasi_unstable differs in memory layouts, not in signatures.
    for name, f in preview0.FUNCTIONS.items():
        p1 = preview1.FUNCTIONS[name]
        assert (f.core_params, f.core_results) == (p1.core_params, p1.core_results), name
    assert "sock_accept" not in preview0.FUNCTIONS


def test_metadata_carries_the_spec():
    f = preview1.FUNCTIONS["path_open"]
    assert f.params[:3] == (("fd", "$fd"), ("dirflags", "$lookupflags"), ("path", "string"))
    assert f.results == (("error", "(expected $fd (error $errno))"),)
    assert f.handler_args == ("fd", "dirflags", "path", "oflags", "fs_rights_base", "fs_rights_inheriting", "fdflags")
    assert f.out_names == ("fd",)
    assert preview1.FUNCTIONS["proc_exit"].noreturn is True


def test_lowering_is_typed_data_every_template_macro_can_print():
    import dataclasses

    from pywasi.codegen import abi, pymodule
    from pywasi.codegen.emit import _environment
    from pywasi.codegen.generate import default_paths
    from pywasi.codegen.resolve import load_dir

    dispatch = _environment().get_template("macros.j2").module.dispatch
    spec = load_dir(default_paths()[0] / "preview0")
    canonical = load_dir(default_paths()[0] / "preview1")
    module = pymodule.Planner(spec, canonical, "m", "e").module([])
    printed = [s for f in module.functions for s in (*f.low.steps, *f.trace_args, *f.trace_results)]
    printed += [*module.types, *module.trace_codecs]
    for value in printed:
        assert dataclasses.is_dataclass(value) and type(value).__dataclass_params__.frozen, value
        assert value.macro in dispatch, value
    kinds = {type(s) for f in module.functions for s in f.low.steps}
    assert kinds == set(abi.Step.__args__)  # every kind of step occurs, so each is printed above
