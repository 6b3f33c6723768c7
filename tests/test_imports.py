"""Modules meet only through public names.

Every module under geo/, api/, maps/, cli/, bench/ and tests/ is parsed (not imported) with
:mod:`ast`, and every import of a project module is checked, inside functions too:

* no ``from M import _name``, ``import M._x`` or ``M._name`` on an imported module: a helper
  another module needs is public (``geo/layers/common.py``), dunders such as ``__version__``
  aside;
* a module of geo/, api/, maps/ or cli/ that others import from declares ``__all__``, and each
  name imported from a module with ``__all__`` is listed there (submodules of a package aside).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("geo", "api", "maps", "cli", "bench", "tests")
NEED_ALL = ("geo", "api", "maps", "cli")
"""Packages whose modules must declare ``__all__`` when another module imports from them."""

KNOWN_GAPS = {
    ("api.mappage", "MAP_ASSETS_URL"): "api/mappage.py is being rewritten on another branch; list it in its __all__",
}
"""Imported names a module's ``__all__`` does not list yet, each with the reason and the fix."""


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {
    _module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))
}
TREES: dict[str, ast.Module] = {
    name: ast.parse(path.read_text(encoding="utf-8"), filename=str(path)) for name, path in MODULES.items()
}


@dataclass(frozen=True)
class Use:
    """One name taken from a project module: ``from module import name`` or ``module.name``."""

    importer: str
    line: int
    module: str
    name: str | None  # None for ``import module``

    def where(self) -> str:
        return f"{MODULES[self.importer].relative_to(ROOT)}:{self.line}"


def _is_project(module: str) -> bool:
    return module.split(".")[0] in PACKAGES


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = importer.split(".")
    if MODULES[importer].name != "__init__.py":
        package.pop()
    package = package[: len(package) - (node.level - 1)]
    return ".".join([*package, *([node.module] if node.module else [])])


def _uses(importer: str, tree: ast.Module) -> Iterator[Use]:
    aliases: dict[str, str] = {}  # local name -> project module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _is_project(alias.name):
                    yield Use(importer, node.lineno, alias.name, None)
                    if alias.asname:
                        aliases[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom):
            module = _resolve(importer, node)
            if not _is_project(module):
                continue
            for alias in node.names:
                submodule = f"{module}.{alias.name}"
                if submodule in MODULES:
                    yield Use(importer, node.lineno, submodule, None)
                    aliases[alias.asname or alias.name] = submodule
                else:
                    yield Use(importer, node.lineno, module, alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            yield Use(importer, node.lineno, aliases[node.value.id], node.attr)


USES = [use for name, tree in TREES.items() for use in _uses(name, tree)]


def _dunder_all(tree: ast.Module) -> list[str] | None:
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        if isinstance(target, ast.Name) and target.id == "__all__":
            value = ast.literal_eval(node.value)  # type: ignore[attr-defined]
            return list(value)
    return None


def test_every_module_is_found():
    assert {"geo.layers.common", "cli.main", "maps.bases", "tests.test_imports"} <= set(MODULES)
    assert len(USES) > 100


def _private(uses: list[Use]) -> list[str]:
    return [
        f"{use.where()}: {use.module}" + (f" -> {use.name}" if use.name else "")
        for use in uses
        if use.module != use.importer
        and (any(_is_private(part) for part in use.module.split(".")) or (use.name and _is_private(use.name)))
    ]


def test_no_private_names_across_modules():
    bad = _private(USES)
    assert bad == [], "private names used from another module; make them public or move them:\n" + "\n".join(bad)


def test_modules_imported_from_declare_all():
    imported_from = {
        use.module for use in USES
        if use.module != use.importer and use.module.split(".")[0] in NEED_ALL and use.module in MODULES
    }
    missing = sorted(m for m in imported_from if _dunder_all(TREES[m]) is None)
    assert missing == [], f"modules other modules import from, without __all__: {missing}"


def test_imported_names_are_in_all():
    bad = []
    for use in USES:
        if use.name is None or use.module == use.importer or use.module not in TREES:
            continue
        names = _dunder_all(TREES[use.module])
        if names is None or use.name in names or _is_private(use.name) or use.name.startswith("__"):
            continue
        if (use.module, use.name) not in KNOWN_GAPS:
            bad.append(f"{use.where()}: {use.name} is not in {use.module}.__all__")
    assert bad == [], "\n".join(bad)


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _dunder_all(TREES[m]) is not None))
def test_all_lists_defined_names(module):
    tree = TREES[module]
    defined: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defined.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            defined.add(node.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            defined.update((a.asname or a.name).split(".")[0] for a in node.names)
    names = _dunder_all(tree) or []
    assert [n for n in names if n not in defined] == []
    assert len(names) == len(set(names)), f"{module}.__all__ lists a name twice"


def test_the_checks_catch_private_uses():
    source = (
        "from geo.exposure import _hidden, cell_areas_km2\n"
        "import geo.layers._old\n"
        "from . import __version__, _x\n"
        "def f():\n"
        "    from geo import readers as r\n"
        "    return r._helper, r.read_vector\n"
    )
    uses = list(_uses("geo.decision", ast.parse(source)))
    assert [line.split(": ", 1)[1] for line in _private(uses)] == [
        "geo.exposure -> _hidden", "geo.layers._old", "geo -> _x", "geo.readers -> _helper",
    ]
