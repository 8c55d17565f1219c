"""pywasi: a WASI host for Python on wasmtime.

    from pywasi import WASI
    wasi = WASI(args=["demo"], env={"LANG": "C"}, preopens={"/sandbox": "/some/path"})
    wasi.define(linker)
    exit_code = wasi.start(linker.instantiate(store, module), store)
"""

from pywasi.handlers.errors import ProcExit, WasiError

from .errors import AlreadyStarted, InvalidArgType, InvalidArgValue, ModuleError, NotStarted, OutOfRange
from .preopen import ReadOnly
from .runner import run
from .trace import HostCall, Stats
from .wasi import WASI

__all__ = [
    "WASI",
    "run",
    "HostCall",
    "Stats",
    "ReadOnly",
    "ProcExit",
    "ModuleError",
    "WasiError",
    "InvalidArgType",
    "InvalidArgValue",
    "OutOfRange",
    "AlreadyStarted",
    "NotStarted",
]
