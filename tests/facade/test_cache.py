"""The compiled-module cache: used when its entry is exactly what pywasi
wrote, passed over (and replaced) when corrupt, foreign or not private."""

from __future__ import annotations

import hashlib
import os
import resource
import signal

import wasmtime

from pywasi import cache
from pywasi.runner import ENGINE_SETTINGS, new_engine
from tests.support import compile_c, run_captured

PROGRAM = "hello_args_env_time.c"


def entries(directory):
    return sorted(p.name for p in directory.iterdir() if not p.name.startswith("."))


def test_an_entry_is_written_once_and_used(tmp_path):
    wasm = compile_c(PROGRAM)
    assert run_captured(wasm, args=["p", "4"], cache=tmp_path)[0] == 4
    names = entries(tmp_path)
    assert len(names) == 2 and names[0].endswith(".cwasm") and names[1].endswith(".sha256")
    cwasm = tmp_path / names[0]
    stamp = cwasm.stat().st_mtime_ns
    assert run_captured(wasm, args=["p", "5"], cache=tmp_path)[0] == 5
    assert cwasm.stat().st_mtime_ns == stamp  # loaded, not rewritten
    assert oct(tmp_path.stat().st_mode & 0o777) == "0o700" or tmp_path.stat().st_mode & 0o077 == 0
    assert cwasm.stat().st_mode & 0o077 == 0


def test_a_corrupt_entry_is_compiled_again_and_replaced(tmp_path):
    wasm = compile_c(PROGRAM)
    run_captured(wasm, cache=tmp_path)
    cwasm = next(tmp_path.glob("*.cwasm"))
    data = bytearray(cwasm.read_bytes())
    data[len(data) // 2] ^= 0xFF
    cwasm.write_bytes(data)
    code, out, _ = run_captured(wasm, args=["p", "6"], cache=tmp_path)
    assert code == 6 and out.startswith(b"argc=2\n")
    good = hashlib.sha256(cwasm.read_bytes()).hexdigest()
    assert next(tmp_path.glob("*.sha256")).read_text() == good


def test_a_foreign_entry_is_refused_by_wasmtime_and_replaced(tmp_path):
    wasm = compile_c(PROGRAM)
    run_captured(wasm, cache=tmp_path)
    cwasm = next(tmp_path.glob("*.cwasm"))
    # Code compiled by another engine, with a checksum that matches it.
    other = wasmtime.Module(wasmtime.Engine(), wasm.read_bytes()).serialize()
    cwasm.write_bytes(other)
    next(tmp_path.glob("*.sha256")).write_text(hashlib.sha256(other).hexdigest())
    assert run_captured(wasm, args=["p", "7"], cache=tmp_path)[0] == 7
    assert cwasm.read_bytes() != other


def test_a_cache_others_can_write_is_not_used(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    assert run_captured(compile_c(PROGRAM), args=["p", "8"], cache=shared)[0] == 8
    assert entries(shared) == []


def test_no_cache_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("PYWASI_CACHE", str(tmp_path))
    assert run_captured(compile_c(PROGRAM), cache=False)[0] == 0
    assert entries(tmp_path) == []


def test_the_default_folder_follows_the_environment(tmp_path, monkeypatch):
    # Made once for an environment, and anew when it changes.
    monkeypatch.setenv("PYWASI_CACHE", str(tmp_path / "a"))
    assert cache.default_dir() == tmp_path / "a"
    assert run_captured(compile_c(PROGRAM), args=["p", "3"])[0] == 3
    assert len(entries(tmp_path / "a")) == 2
    monkeypatch.setenv("PYWASI_CACHE", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.default_dir() == tmp_path / "xdg" / "pywasi" / "modules"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.default_dir() == tmp_path / "home" / ".cache" / "pywasi" / "modules"
    monkeypatch.setenv("PYWASI_CACHE", str(tmp_path / "b"))
    assert run_captured(compile_c(PROGRAM), args=["p", "4"])[0] == 4
    assert len(entries(tmp_path / "b")) == 2


def test_the_key_covers_the_engine_settings(tmp_path):
    engine = new_engine()
    data = compile_c(PROGRAM).read_bytes()
    cache.compile_cached(engine, data, ENGINE_SETTINGS, tmp_path)
    cache.compile_cached(engine, data, ENGINE_SETTINGS + " other", tmp_path)
    assert len(list(tmp_path.glob("*.cwasm"))) == 2


def test_a_write_that_fails_leaves_no_partial_file(tmp_path):
    # A real failure, not a mock: while files may not grow past 1,000 bytes
    # (RLIMIT_FSIZE, with SIGXFSZ ignored so that writes fail with EFBIG),
    # storing an entry fails, quietly, and leaves nothing behind.
    module = wasmtime.Module(new_engine(), compile_c(PROGRAM).read_bytes())
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1000, limits[1]))
    try:
        cache._store(module, tmp_path, tmp_path / "entry.cwasm", tmp_path / "entry.sha256")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, handler)
    assert len(module.serialize()) > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == []
