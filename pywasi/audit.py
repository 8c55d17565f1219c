"""`pywasi audit`: what pywasi covers of each WASI ABI, and whether a module's
imports are covered.

Everything here is read from the generated metadata (each version's
FUNCTIONS) and the handler classes themselves, never from a list kept by
hand, so it cannot drift: a function is implemented when a class of the
handler's MRO other than the generated `Handlers` defines its method, and
answers ENOSYS on purpose when that method is marked `@enosys(reason)`.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import asdict, dataclass

from pywasi.generated.interface import Handlers
from pywasi.generated.versions import BY_NAMESPACE, VERSIONS
from pywasi.handlers.host import Host

from . import native

FORMATS = ("table", "markdown", "json")
IMPLEMENTED = "implemented"
ENOSYS = "enosys"
UNKNOWN = "unknown"  # a module imports a name the spec does not have


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionStatus:
    name: str
    status: str  # IMPLEMENTED or ENOSYS
    handler: str | None  # the method that answers, as a dotted path
    reason: str | None  # why it answers ENOSYS, where that is documented


@dataclass(frozen=True, slots=True, kw_only=True)
class VersionAudit:
    version: str  # Node's name: preview1, unstable
    module: str  # the import module: wasi_snapshot_preview1, wasi_unstable
    functions: tuple[FunctionStatus, ...]

    @property
    def implemented(self) -> int:
        return sum(f.status == IMPLEMENTED for f in self.functions)

    @property
    def total(self) -> int:
        return len(self.functions)

    def status(self, name: str) -> FunctionStatus | None:
        return next((f for f in self.functions if f.name == name), None)


def status_of(host: type, name: str) -> FunctionStatus:
    """How `host` answers the function `name`."""
    for cls in host.__mro__:
        if cls is Handlers:
            continue
        method = vars(cls).get(name)
        if method is not None:
            reason = getattr(method, "enosys_reason", None)
            return FunctionStatus(
                name=name,
                status=IMPLEMENTED if reason is None else ENOSYS,
                handler=f"{cls.__module__}.{cls.__qualname__}.{name}",
                reason=reason,
            )
    return FunctionStatus(name=name, status=ENOSYS, handler=None, reason=None)


def abi_module(namespace: str):
    """The generated module serving an import namespace."""
    return importlib.import_module(BY_NAMESPACE[namespace].module)


def audit_versions(host: type = Host) -> tuple[VersionAudit, ...]:
    """Every function of every ABI version, with how `host` answers it."""
    return tuple(
        VersionAudit(
            version=v.name,
            module=v.namespace,
            functions=tuple(status_of(host, name) for name in abi_module(v.namespace).FUNCTIONS),
        )
        for v in VERSIONS
    )


# A module's imports ----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class WasiImport:
    module: str  # the import module (a WASI namespace)
    version: str
    name: str
    status: str  # IMPLEMENTED, ENOSYS or UNKNOWN
    handler: str | None
    reason: str | None
    signature: str  # what the module declares
    expected: str | None  # the spec's lowered signature; None for an unknown name

    @property
    def signature_ok(self) -> bool:
        return self.signature == self.expected

    @property
    def runs(self) -> bool:
        return self.status == IMPLEMENTED and self.signature_ok


@dataclass(frozen=True, slots=True, kw_only=True)
class OtherImport:
    module: str
    name: str
    signature: str  # "func (i32) -> i32", "memory", ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ModuleAudit:
    path: str
    kind: str  # command, reactor, or invalid (exports both entry points)
    entry: str | None  # _start, _initialize, or None for a reactor without one
    exports_memory: bool
    wasi: tuple[WasiImport, ...]
    other: tuple[OtherImport, ...]

    @property
    def ok(self) -> bool:
        """Everything it imports from WASI is implemented, as the spec declares it."""
        return all(i.runs for i in self.wasi)


def signature_text(params, results) -> str:
    return f"({', '.join(map(str, params))}) -> {', '.join(map(str, results)) or '()'}"


def _describe(ty) -> str:
    import wasmtime

    match ty:
        case wasmtime.FuncType():
            return "func " + signature_text(ty.params, ty.results)
        case wasmtime.MemoryType():
            return "memory"
        case wasmtime.TableType():
            return "table"
        case wasmtime.GlobalType():
            return f"global {ty.content}"
    return type(ty).__name__


def audit_module(module, path: str, host: type = Host) -> ModuleAudit:
    """The audit of a compiled wasmtime.Module (`path` names it in reports)."""
    import wasmtime

    versions = {v.module: v for v in audit_versions(host)}
    wasi, other = [], []
    for imp in module.imports:
        ty = imp.type
        if imp.module not in versions:
            other.append(OtherImport(module=imp.module, name=imp.name or "", signature=_describe(ty)))
            continue
        info = abi_module(imp.module).FUNCTIONS.get(imp.name)
        found = versions[imp.module].status(imp.name)
        declared = signature_text(ty.params, ty.results) if isinstance(ty, wasmtime.FuncType) else _describe(ty)
        wasi.append(
            WasiImport(
                module=imp.module,
                version=BY_NAMESPACE[imp.module].name,
                name=imp.name or "",
                status=found.status if found else UNKNOWN,
                handler=found.handler if found else None,
                reason=found.reason if found else None,
                signature=declared,
                expected=signature_text(info.core_params, info.core_results) if info else None,
            )
        )
    exports = {e.name: e.type for e in module.exports}
    has_start = isinstance(exports.get("_start"), wasmtime.FuncType)
    has_init = isinstance(exports.get("_initialize"), wasmtime.FuncType)
    if has_start and has_init:
        kind, entry = "invalid", None
    elif has_start:
        kind, entry = "command", "_start"
    else:
        kind, entry = "reactor", "_initialize" if has_init else None
    return ModuleAudit(
        path=path,
        kind=kind,
        entry=entry,
        exports_memory=isinstance(exports.get("memory"), wasmtime.MemoryType),
        wasi=tuple(wasi),
        other=tuple(other),
    )


# Reports ---------------------------------------------------------------------------


def versions_json(versions: tuple[VersionAudit, ...]) -> dict:
    return {
        v.version: {
            "implemented": v.implemented,
            "total": v.total,
            "functions": [asdict(f) for f in v.functions],
        }
        for v in versions
    }


def module_json(audit: ModuleAudit) -> dict:
    return {
        "module": audit.path,
        "kind": audit.kind,
        "entry": audit.entry,
        "exports_memory": audit.exports_memory,
        "ok": audit.ok,
        "wasi": [dict(asdict(i), signature_ok=i.signature_ok) for i in audit.wasi],
        "other": [asdict(o) for o in audit.other],
    }


def _status_word(status: str) -> str:
    return {IMPLEMENTED: "implemented", ENOSYS: "ENOSYS", UNKNOWN: "not in the spec"}[status]


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|")


def _code(text: str | None) -> str:
    return f"`{text}`" if text else ""


def render_versions(versions: tuple[VersionAudit, ...], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(versions_json(versions), indent=2) + "\n"
    out = []
    for v in versions:
        title = f"{v.module} ({v.version}): {v.implemented} of {v.total} implemented"
        if fmt == "markdown":
            out += [f"## {title}", "", "| function | status | handler | reason |", "| --- | --- | --- | --- |"]
            out += [
                f"| `{f.name}` | {_status_word(f.status)} | {_code(f.handler)} | {_cell(f.reason)} |"
                for f in v.functions
            ]
        else:
            width = max(len(f.name) for f in v.functions)
            out.append(title)
            for f in v.functions:
                detail = f.handler if f.status == IMPLEMENTED else f.reason or ""
                out.append(f"  {f.name:<{width}}  {_status_word(f.status):<11}  {detail}".rstrip())
        out.append("")
    out.append(f"host calls in C: {native.STATUS}")
    return "\n".join(out).rstrip() + "\n"


def _kind_text(audit: ModuleAudit) -> str:
    if audit.kind == "invalid":
        return "neither a command nor a reactor: it exports both _start and _initialize"
    if audit.kind == "command":
        return "a command (exports _start)"
    if audit.entry:
        return "a reactor (exports _initialize)"
    return "a reactor (exports neither _start nor _initialize)"


def _import_status(i: WasiImport) -> str:
    if i.status != UNKNOWN and not i.signature_ok:
        return "MISMATCH"
    return _status_word(i.status)


def _import_detail(i: WasiImport) -> str:
    if i.status == UNKNOWN:
        return f"declared {i.signature}"
    if not i.signature_ok:
        return f"declared {i.signature}, the spec's is {i.expected}"
    return (i.handler or "") if i.status == IMPLEMENTED else (i.reason or "")


def _notes(audit: ModuleAudit) -> list[str]:
    notes = []
    if not audit.exports_memory:
        notes.append("it exports no memory: start() and initialize() need one named `memory`")
    if len({i.module for i in audit.wasi}) > 1:
        notes.append("it imports both WASI namespaces: one instance is served one ABI")
    return notes


def _verdict(audit: ModuleAudit) -> str:
    good = sum(i.runs for i in audit.wasi)
    return f"{good} of {len(audit.wasi)} WASI imports implemented as the spec declares them"


def render_module(audit: ModuleAudit, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(module_json(audit), indent=2) + "\n"
    lines = _module_markdown(audit) if fmt == "markdown" else _module_table(audit)
    return "\n".join(lines) + "\n"


def _module_markdown(audit: ModuleAudit) -> list[str]:
    out = [f"## `{audit.path}`", "", f"{_kind_text(audit)}; {_verdict(audit)}.", ""]
    out += ["| import | status | detail |", "| --- | --- | --- |"]
    out += [f"| `{i.module}.{i.name}` | {_import_status(i)} | {_cell(_import_detail(i))} |" for i in audit.wasi]
    if audit.other:
        out += ["", "Other imports (not WASI):", ""]
        out += [f"- `{o.module}.{o.name}`: {o.signature}" for o in audit.other]
    notes = _notes(audit)
    if notes:
        out += ["", *(f"Note: {n}." for n in notes)]
    return out


def _module_table(audit: ModuleAudit) -> list[str]:
    out = [f"{audit.path}: {_kind_text(audit)}"]
    for module in dict.fromkeys(i.module for i in audit.wasi):
        imports = [i for i in audit.wasi if i.module == module]
        width = max(len(i.name) for i in imports)
        status_width = max(len(_import_status(i)) for i in imports)
        out.append(f"imports from {module}:")
        for i in imports:
            line = f"  {i.name:<{width}}  {_import_status(i):<{status_width}}  {_import_detail(i)}"
            out.append(line.rstrip())
    if audit.other:
        width = max(len(o.module) + len(o.name) + 1 for o in audit.other)
        out.append("other imports (not WASI):")
        out += [f"  {o.module + '.' + o.name:<{width}}  {o.signature}" for o in audit.other]
    out += [f"note: {n}" for n in _notes(audit)]
    out.append(_verdict(audit))
    return out
