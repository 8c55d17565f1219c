"""pywasi: a WASI host for Python on wasmtime.

    from pywasi import WASI
    wasi = WASI(args=["demo"], env={"LANG": "C"}, preopens={"/sandbox": "/some/path"})
    wasi.define(linker)
    exit_code = wasi.start(linker.instantiate(store, module), store)
"""

from importlib.metadata import PackageNotFoundError, version as _distribution_version

from pywasi.handlers.preopens import MemoryDir, Overlay, Symlink
from pywasi.runtime.errors import ProcExit, WasiError

from .errors import AlreadyStarted, InvalidArgType, InvalidArgValue, ModuleError, NotStarted, OutOfRange
from .preopen import ReadOnly
from .results import CompletedRun, RunError, TimeoutExpired, Usage
from .runner import new_engine, run, run_async
from .trace import HostCall, Stats
from .wasi import WASI

try:
    __version__ = _distribution_version("pywasi")  # pyproject.toml's, the one place it is set
except PackageNotFoundError:  # a source tree imported without being installed
    __version__ = "0+unknown"

__all__ = [
    "WASI",
    "run",
    "run_async",
    "new_engine",
    "CompletedRun",
    "Usage",
    "TimeoutExpired",
    "RunError",
    "HostCall",
    "Stats",
    "ReadOnly",
    "MemoryDir",
    "Symlink",
    "Overlay",
    "ProcExit",
    "ModuleError",
    "WasiError",
    "InvalidArgType",
    "InvalidArgValue",
    "OutOfRange",
    "AlreadyStarted",
    "NotStarted",
]
