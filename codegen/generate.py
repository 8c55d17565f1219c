"""What the generator writes, and where: the default plan and a custom spec."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import model as m
from .emit import Renderer, format_sources, render
from .resolve import load_dir

CANONICAL_MODULE = "pywasi.generated.preview1"

# ABI version directory under witx/ -> generated module name.
VERSIONS = {"preview1": "preview1", "preview0": "preview0"}
CANONICAL = "preview1"


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


def plan(witx_root: Path, out_dir: Path) -> list[Output]:
    """Every generated file of the project, rendered from witx_root."""
    canonical = load_dir(witx_root / CANONICAL)
    outputs = []
    modules = []
    for directory, name in VERSIONS.items():
        spec = canonical if directory == CANONICAL else load_dir(witx_root / directory)
        renderer = Renderer(spec, None if spec is canonical else canonical, CANONICAL_MODULE)
        text = render("module.py.j2", **renderer.context(_sources(spec, witx_root)))
        outputs.append(Output(out_dir / f"{name}.py", text))
        modules.append((spec.module, f"pywasi.generated.{name}"))
    interface = Renderer(canonical, None, CANONICAL_MODULE)
    outputs.append(
        Output(
            out_dir / "interface.py",
            render("interface.py.j2", **interface.interface_context(_sources(canonical, witx_root))),
        )
    )
    outputs.append(
        Output(out_dir / "__init__.py", render("init.py.j2", regenerate="pywasi gen", modules=modules))
    )
    return _formatted(outputs)


def _formatted(outputs: list[Output]) -> list[Output]:
    texts = format_sources([o.text for o in outputs])
    return [Output(o.path, text) for o, text in zip(outputs, texts)]


def plan_custom(witx_dir: Path, out_file: Path, canonical_root: Path) -> list[Output]:
    """One stub module for a spec of one's own, translated onto the canonical types."""
    canonical = load_dir(canonical_root / CANONICAL)
    spec = load_dir(witx_dir)
    renderer = Renderer(spec, None if spec == canonical else canonical, CANONICAL_MODULE)
    if spec == canonical:
        # Same ABI as the canonical one: still import its types, don't redefine them.
        renderer = Renderer(spec, canonical, CANONICAL_MODULE)
    text = render("module.py.j2", **renderer.context(_sources(spec, witx_dir)))
    return _formatted([Output(out_file, text)])


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
