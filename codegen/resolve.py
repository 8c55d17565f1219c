"""From witx files to the model: follow `use`, resolve names, check the rules.

Every error names the file, line and column of the item at fault.
"""

from __future__ import annotations

from pathlib import Path

from . import model as m
from . import syntax as s
from .errors import Loc, WitxError

# Types that must be declared with a typename: they need a name to be emitted.
_NEEDS_NAME = {
    s.Enum: "enum",
    s.Flags: "flags",
    s.Record: "record",
    s.Union: "union",
    s.Variant: "variant",
    s.Handle: "handle",
}


def load(path: str | Path) -> m.Spec:
    """Read a witx module file, and the files it uses, into a Spec."""
    return _Resolver().spec(Path(path))


def load_dir(directory: str | Path) -> m.Spec:
    """The Spec of the one module declared among the .witx files of a directory."""
    directory = Path(directory)
    if not directory.is_dir():
        raise WitxError(Loc(str(directory), 0, 0), "no such directory")
    candidates = [
        p for p in sorted(directory.glob("*.witx")) if "(module" in p.read_text(errors="replace")
    ]
    if len(candidates) != 1:
        found = ", ".join(p.name for p in candidates) or "none"
        raise WitxError(
            Loc(str(directory), 0, 0), f"expected one .witx file with a module, found {found}"
        )
    return load(candidates[0])


class _Resolver:
    def __init__(self) -> None:
        self.typenames: dict[str, s.TypeName] = {}
        self.modules: list[s.Module] = []
        self.sources: list[str] = []
        self.resolved: dict[str, m.Named] = {}
        self.resolving: set[str] = set()

    # Reading files -------------------------------------------------------

    def spec(self, path: Path) -> m.Spec:
        if not path.is_file():
            raise WitxError(Loc(str(path), 0, 0), "no such file")
        self._read(path.resolve(), shown=str(path))
        if len(self.modules) != 1:
            what = "no module" if not self.modules else "more than one module"
            raise WitxError(Loc(str(path), 1, 1), f"{what}: a spec declares exactly one")
        module = self.modules[0]
        types = tuple(self._named(name) for name in self.typenames)
        functions = self._functions(module)
        return m.Spec(
            module=module.name,
            memory=any(i.name == "memory" for i in module.imports),
            types=types,
            functions=functions,
            sources=tuple(self.sources),
        )

    def _read(self, path: Path, shown: str) -> None:
        if str(path) in self.sources:
            return  # each file is read once, however often it is used
        self.sources.append(str(path))
        doc = s.parse(path.read_text(encoding="utf-8"), shown)
        for use in doc.uses:
            target = path.parent / use.path
            if not target.is_file():
                raise WitxError(use.loc, f'use of missing file "{use.path}"')
            self._read(target.resolve(), str(Path(shown).parent / use.path))
        for typename in doc.typenames:
            first = self.typenames.get(typename.name)
            if first is not None:
                raise WitxError(
                    typename.loc, f"duplicate typename ${typename.name} (first at {first.loc})"
                )
            self.typenames[typename.name] = typename
        self.modules.extend(doc.modules)

    # Types ---------------------------------------------------------------

    def _named(self, name: str, loc: Loc | None = None) -> m.Named:
        if name in self.resolved:
            return self.resolved[name]
        decl = self.typenames.get(name)
        if decl is None:
            raise WitxError(loc, f"unknown type ${name}")
        if name in self.resolving:
            raise WitxError(decl.loc, f"type ${name} refers to itself")
        self.resolving.add(name)
        named = m.Named(name=name, type=self._type(decl.type, top=True), doc=decl.doc)
        self.resolving.discard(name)
        self.resolved[name] = named
        return named

    def _type(self, t: s.TypeExpr, top: bool = False) -> m.Type:
        kind = _NEEDS_NAME.get(type(t))
        if kind and not top:
            raise WitxError(t.loc, f"anonymous {kind}: declare it with (typename $name ...)")
        match t:
            case s.IntType(name=name):
                return m.Int(name=name)
            case s.StringType():
                return m.String()
            case s.Ref(name=name):
                return self._named(name, t.loc)
            case s.Usize():
                return m.Usize()
            case s.Char8():
                return m.Char8()
            case s.Handle():
                return m.Handle()
            case s.Enum():
                return m.Enum(tag=self._tag_int(t.tag, t.loc), cases=self._cases(t.cases))
            case s.Flags():
                flags = self._cases(t.flags)
                repr_ = self._tag_int(t.repr, t.loc)
                if len(flags) > repr_.bits:
                    raise WitxError(t.loc, f"{len(flags)} flags do not fit in {repr_.name}")
                return m.Flags(repr=repr_, flags=flags)
            case s.Record():
                self._unique(t.fields, "field")
                return m.Record(
                    fields=tuple(
                        m.Field(name=f.name, type=self._type(f.type), doc=f.doc) for f in t.fields
                    )
                )
            case s.Union():
                return self._union(t)
            case s.Variant():
                self._unique(t.cases, "case")
                tag = self._tag_int(t.tag, t.loc) if t.tag else _smallest_tag(len(t.cases))
                return m.Variant(
                    tag=tag,
                    cases=tuple(
                        m.VariantCase(
                            name=c.name, type=self._type(c.type) if c.type else None, doc=c.doc
                        )
                        for c in t.cases
                    ),
                )
            case s.List(element=element):
                return m.List(element=self._type(element))
            case s.Pointer(target=target, const=const):
                return m.Pointer(target=self._type(target), const=const)
            case s.Expected(ok=ok, error=error):
                return m.Expected(ok=self._type(ok) if ok else None, error=self._type(error))
            case s.Tuple(items=items):
                return m.Tuple(items=tuple(self._type(i) for i in items))
        raise WitxError(t.loc, f"unsupported type {type(t).__name__}")  # pragma: no cover

    def _union(self, t: s.Union) -> m.Union:
        if t.tag is None:
            raise WitxError(t.loc, "a union needs a tag: (@witx tag $enum)")
        tag = self._named(t.tag.name, t.tag.loc)
        if not isinstance(m.unwrap(tag), m.Enum):
            raise WitxError(t.tag.loc, f"the tag of a union must be an enum, not ${tag.name}")
        cases = tuple(self._named(c.name, c.loc) for c in t.cases)
        n_tags = len(m.unwrap(tag).cases)
        if len(cases) != n_tags:
            raise WitxError(
                t.loc, f"union has {len(cases)} cases but its tag ${tag.name} has {n_tags}"
            )
        return m.Union(tag=tag, cases=cases)

    def _tag_int(self, name: str, loc: Loc) -> m.Int:
        if name[0] != "u":
            raise WitxError(loc, f"a tag or repr must be unsigned, not {name}")
        return m.Int(name=name)

    def _cases(self, cases: tuple[s.CaseName, ...]) -> tuple[m.Case, ...]:
        self._unique(cases, "case")
        return tuple(m.Case(name=c.name, doc=c.doc) for c in cases)

    @staticmethod
    def _unique(items, what: str) -> None:
        seen: dict[str, Loc] = {}
        for item in items:
            if item.name in seen:
                raise WitxError(
                    item.loc, f"duplicate {what} ${item.name} (first at {seen[item.name]})"
                )
            seen[item.name] = item.loc

    # Functions -----------------------------------------------------------

    def _functions(self, module: s.Module) -> tuple[m.Function, ...]:
        seen: dict[str, Loc] = {}
        functions = []
        for f in module.funcs:
            if f.name in seen:
                raise WitxError(f.loc, f'duplicate function "{f.name}" (first at {seen[f.name]})')
            seen[f.name] = f.loc
            self._unique(f.params, "param")
            if len(f.results) > 1:
                raise WitxError(f.results[1].loc, "a function has at most one result")
            if f.noreturn and f.results:
                raise WitxError(f.loc, "a noreturn function has no result")
            results = tuple(
                m.Result(name=r.name, type=self._type(r.type), doc=r.doc) for r in f.results
            )
            for r, decl in zip(results, f.results):
                if not isinstance(r.type, m.Expected):
                    raise WitxError(decl.loc, "a result must be (expected ... (error $errno))")
            functions.append(
                m.Function(
                    name=f.name,
                    params=tuple(
                        m.Param(name=p.name, type=self._type(p.type), doc=p.doc) for p in f.params
                    ),
                    results=results,
                    noreturn=f.noreturn,
                    doc=f.doc,
                )
            )
        return tuple(functions)


def _smallest_tag(n: int) -> m.Int:
    for bits in (8, 16, 32):
        if n <= 1 << bits:
            return m.Int(name=f"u{bits}")
    return m.Int(name="u64")
