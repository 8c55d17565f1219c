"""Host calls as Trace Event JSON (`trace_format="chrome"`, `--trace-format=
chrome`): a whole JSON document, one complete slice per host call on the
guest's thread, with its decoded arguments and its outcome."""

from __future__ import annotations

import io
import json
import threading

import pytest

from pywasi import WASI, InvalidArgType, InvalidArgValue, run
from tests.support import compile_c, pywasi_cli


def slices(document: str) -> tuple[list[dict], dict[tuple[str, int], str]]:
    """The host-call slices of a Trace Event JSON document, checked against
    the format, and its metadata: (name, tid) -> the name it gives."""
    events = json.loads(document)
    assert isinstance(events, list)
    calls, names = [], {}
    for event in events:
        assert isinstance(event["pid"], int) and isinstance(event["tid"], int)
        if event["ph"] == "M":
            assert event["name"] in ("process_name", "thread_name") and set(event["args"]) == {"name"}
            names[event["name"], event["tid"]] = event["args"]["name"]
            continue
        assert event["ph"] == "X" and event["cat"] == "wasi"
        assert isinstance(event["ts"], (int, float)) and event["ts"] >= 0
        assert isinstance(event["dur"], (int, float)) and event["dur"] >= 0
        calls.append(event)
    # One thread's calls follow each other: a slice ends before the next begins.
    for before, after in zip(calls, calls[1:]):
        assert before["ts"] + before["dur"] <= after["ts"]
    assert len({e["pid"] for e in events}) == 1
    return calls, names


# What trace_files.c calls, and what its text trace says of each call
# (tests/programs/test_trace.py has the lines).
FILES = [
    ("path_open", {"fd": 3, "dirflags": "SYMLINK_FOLLOW", "path": "data/in.txt", "oflags": "0",
                   "fs_rights_base": "FD_READ", "fs_rights_inheriting": "0", "fdflags": "0",
                   "result": "success, fd=4"}),
    ("fd_read", {"fd": 4, "iovs": "64 bytes", "result": "success, size=6"}),
    ("path_open", {"fd": 3, "dirflags": "SYMLINK_FOLLOW", "path": "data/out.txt", "oflags": "CREAT|TRUNC",
                   "fs_rights_base": "FD_READ|FD_WRITE", "fs_rights_inheriting": "0", "fdflags": "0",
                   "result": "success, fd=5"}),
    ("fd_write", {"fd": 5, "iovs": "6 bytes", "result": "success, size=6"}),
    ("fd_close", {"fd": 4, "result": "success"}),
    ("fd_close", {"fd": 5, "result": "success"}),
]


@pytest.fixture
def sandbox(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "in.txt").write_bytes(b"hello\n")
    return tmp_path


def test_cli_writes_one_slice_per_host_call(sandbox, tmp_path):
    trace = tmp_path / "trace.json"
    out = pywasi_cli("run", f"--trace={trace}", "--trace-format=chrome", "--dir", f"{sandbox}::/sandbox",
                     str(compile_c("trace_files.c")))
    assert (out.returncode, out.stdout, out.stderr) == (0, b"", b"")
    calls, names = slices(trace.read_text())
    assert [(e["name"], e["args"]) for e in calls] == FILES
    (tid,) = {e["tid"] for e in calls}
    assert names[("thread_name", tid)] == "guest (MainThread)"
    assert "pywasi" in names.values()


@pytest.mark.parametrize("sink", [io.StringIO, io.BytesIO])
def test_a_file_object_gets_a_whole_document_on_the_guests_thread(sandbox, sink):
    # The guest runs in a thread of its own: its slices are on that thread.
    target, seen = sink(), {}

    def guest():
        seen["tid"] = threading.get_native_id()
        seen["code"] = run(compile_c("trace_stdio.c"), args=["prog", "arg1"], env={"GREETING": "hi"},
                           input=b"hello\n", capture_output=True, trace=target, trace_format="chrome").returncode

    thread = threading.Thread(target=guest, name="runner")
    thread.start()
    thread.join()
    value = target.getvalue()
    calls, names = slices(value if isinstance(value, str) else value.decode())
    assert seen["code"] == 3
    assert {e["tid"] for e in calls} == {seen["tid"]}
    assert names[("thread_name", seen["tid"])] == "guest (runner)"
    assert [e["name"] for e in calls] == [
        "args_sizes_get", "args_get", "fd_read", "fd_write", "environ_sizes_get", "environ_get", "fd_write",
        "random_get", "clock_time_get", "fd_write", "proc_exit",
    ]
    assert calls[2]["args"] == {"fd": 0, "iovs": "32 bytes", "result": "success, size=6"}
    assert calls[-1]["args"] == {"rval": 3, "result": "exit 3"}


def test_no_calls_is_an_empty_document():
    target = io.StringIO()
    with WASI(trace=target, trace_format="chrome"):
        pass
    assert json.loads(target.getvalue()) == []


@pytest.mark.parametrize("options, error, message", [
    (dict(trace=io.StringIO(), trace_format="json"), InvalidArgValue,
     "trace_format must be 'text' or 'chrome', not 'json'"),
    (dict(trace=io.StringIO(), trace_format=1), InvalidArgType, "trace_format must be a str, not type int (1)"),
    (dict(trace=print, trace_format="chrome"), InvalidArgValue,
     "trace_format='chrome' writes to a file object; a callable trace gets each pywasi.HostCall"),
])
def test_bad_trace_formats(options, error, message):
    with pytest.raises(error) as info:
        WASI(**options)
    assert str(info.value) == message


def test_cli_refuses_an_unknown_format():
    out = pywasi_cli("run", "--trace-format=json", "x.wasm")
    assert out.returncode == 2
    assert out.stderr.startswith(b"pywasi run: argument --trace-format: invalid choice: 'json'")
