"""What the generator writes, and where: the default plan and a custom spec."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from . import cplan
from . import model as m
from .emit import format_c, format_sources, render
from .pymodule import Planner
from .resolve import load_dir

PACKAGE = "pywasi.generated"


@dataclass(frozen=True, slots=True, kw_only=True)
class VersionSource:
    """One ABI version: where its witx lives and what users call it. The only
    hand-written description of the versions; everything else reads the
    table generated from it (generated/versions.py)."""

    witx: str  # the directory under witx/, and the generated module's name
    name: str  # Node's name
    aliases: tuple[str, ...] = ()


VERSIONS = (
    VersionSource(witx="preview1", name="preview1"),
    # Node calls it "unstable"; "preview0" is what the witx calls it.
    VersionSource(witx="preview0", name="unstable", aliases=("preview0",)),
)
CANONICAL = "preview1"  # the version whose types the handlers speak
CANONICAL_MODULE = f"{PACKAGE}.{CANONICAL}"
ERRNO_MODULE = f"{PACKAGE}.errno"


@dataclass(frozen=True, slots=True)
class Output:
    path: Path
    text: str


def default_paths() -> tuple[Path, Path]:
    """The project's witx/ and generated/ directories."""
    import pywasi.generated

    # In a checkout codegen/ and witx/ are siblings; installed, pywasi/codegen
    # and pywasi/witx are.
    witx = Path(__file__).resolve().parent.parent / "witx"
    return witx, Path(pywasi.generated.__file__).resolve().parent


def _sources(spec: m.Spec, root: Path) -> list[str]:
    out = []
    for source in spec.sources:
        p = Path(source)
        try:
            out.append(p.relative_to(root.parent).as_posix())
        except ValueError:
            out.append(p.name)
    return out


def _context(plan) -> dict:
    return {f.name: getattr(plan, f.name) for f in fields(plan)}


def plan(witx_root: Path, out_dir: Path) -> list[Output]:
    """Every generated file of the project, rendered from witx_root."""
    canonical = load_dir(witx_root / CANONICAL)
    outputs = []
    versions = []
    sources = []
    for v in VERSIONS:
        spec = canonical if v.witx == CANONICAL else load_dir(witx_root / v.witx)
        planner = Planner(spec, None if spec is canonical else canonical, CANONICAL_MODULE, ERRNO_MODULE)
        module = planner.module(_sources(spec, witx_root))
        outputs.append(Output(out_dir / f"{v.witx}.py", render("module.py.j2", **_context(module))))
        versions.append(dict(name=v.name, aliases=v.aliases, namespace=spec.module, module=f"{PACKAGE}.{v.witx}"))
        sources.extend(module.sources)
    canonical_planner = Planner(canonical, None, CANONICAL_MODULE, ERRNO_MODULE)
    canonical_sources = _sources(canonical, witx_root)
    interface = canonical_planner.interface(canonical_sources)
    outputs.append(Output(out_dir / "interface.py", render("interface.py.j2", **_context(interface))))
    outputs.append(
        Output(out_dir / "errno.py", render("errno.py.j2", sources=canonical_sources, errno=canonical_planner.errno()))
    )
    outputs.append(
        Output(out_dir / "versions.py", render("versions.py.j2", sources=sources, versions=versions, default=CANONICAL))
    )
    outputs.append(Output(out_dir / "__init__.py", render("init.py.j2")))
    specs = [(v.witx, canonical if v.witx == CANONICAL else load_dir(witx_root / v.witx)) for v in VERSIONS]
    native = cplan.plan(specs, canonical, sources)
    outputs.append(Output(out_dir / "native.h", render("native.h.j2", **_context(native))))
    outputs.append(Output(out_dir / "native.c", render("native.c.j2", **_context(native))))
    return _formatted(outputs)


def _formatted(outputs: list[Output]) -> list[Output]:
    python = [o for o in outputs if o.path.suffix == ".py"]
    texts = dict(zip((o.path for o in python), format_sources([o.text for o in python])))
    return [Output(o.path, texts[o.path] if o.path in texts else format_c(o.text)) for o in outputs]


def plan_custom(witx_dir: Path, out_file: Path, canonical_root: Path) -> list[Output]:
    """One stub module for a spec of one's own, translated onto the canonical types
    (even a spec identical to the canonical one imports its types rather than
    redefining them)."""
    canonical = load_dir(canonical_root / CANONICAL)
    spec = load_dir(witx_dir)
    module = Planner(spec, canonical, CANONICAL_MODULE, ERRNO_MODULE).module(_sources(spec, witx_dir))
    return _formatted([Output(out_file, render("module.py.j2", **_context(module)))])


def write(outputs: list[Output]) -> list[Path]:
    """Write what changed; the paths written."""
    written = []
    for o in outputs:
        if not o.path.exists() or o.path.read_text() != o.text:
            o.path.parent.mkdir(parents=True, exist_ok=True)
            o.path.write_text(o.text)
            written.append(o.path)
    return written


def stale(outputs: list[Output]) -> list[Path]:
    """The outputs whose file differs from what the spec gives."""
    return [o.path for o in outputs if not o.path.exists() or o.path.read_text() != o.text]
