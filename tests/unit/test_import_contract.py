"""The import contract between the packages, checked on their source.

``events`` is the contract, ``readmodel`` the Redis read model built on it,
``projector`` and ``api`` its writer and its reader: siblings that never import
each other. Every import counts wherever it is written (module level, inside a
function, under ``TYPE_CHECKING``, relative, or ``importlib.import_module``
with a literal name), so a violation cannot hide from the check.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

FORBIDDEN: dict[str, frozenset[str]] = {
    "events": frozenset({"readmodel", "projector", "api"}),
    "readmodel": frozenset({"projector", "api"}),
    "projector": frozenset({"api"}),
    "api": frozenset({"projector"}),
}
"""Each package, and the packages it must never import."""


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    module: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} imports {self.module}"


def module_name(root: Path, path: Path) -> str:
    """``api/routes.py`` under ``root`` is ``api.routes``; ``api/__init__.py`` is ``api``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(root: Path, path: Path) -> Iterator[Import]:
    """Every module the file at ``path`` (inside ``root``) imports, relative ones resolved."""
    name = module_name(root, path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_bytes(), filename=str(path))
    path = path.relative_to(root)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(path, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(package, node.level, node.module)
            if node.module is None:  # `from . import x`: each name may be a module
                for alias in node.names:
                    yield Import(path, node.lineno, f"{base}.{alias.name}".lstrip("."))
            else:
                yield Import(path, node.lineno, base)
        elif isinstance(node, ast.Call) and _is_dynamic_import(node.func):
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                yield Import(path, node.lineno, _resolve_dynamic(package, first.value))


def _resolve(package: str, level: int, module: str | None) -> str:
    if level == 0:
        return module or ""
    parts = package.split(".") if package else []
    base = parts[: max(len(parts) - (level - 1), 0)]
    return ".".join([*base, *([module] if module else [])])


def _resolve_dynamic(package: str, name: str) -> str:
    level = len(name) - len(name.lstrip("."))
    return _resolve(package, level, name[level:] or None) if level else name


def _is_dynamic_import(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in ("__import__", "import_module")
    return isinstance(func, ast.Attribute) and func.attr == "import_module"


def violations(root: Path, package: str, forbidden: frozenset[str]) -> list[Import]:
    """The imports in ``root/package`` of a package in ``forbidden``."""
    sources = sorted((root / package).rglob("*.py"))
    assert sources, f"no Python source under {root / package}"
    found = [
        each
        for path in sources
        for each in imports_of(root, path)
        if each.module.partition(".")[0] in forbidden
    ]
    return sorted(found, key=lambda each: (each.path, each.line))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_the_package_imports_none_it_must_not(package: str) -> None:
    found = violations(REPO, package, FORBIDDEN[package])
    assert not found, f"{package} must not import {sorted(FORBIDDEN[package])}:\n" + "\n".join(
        str(violation) for violation in found
    )


def test_every_kind_of_import_is_seen(tmp_path: Path) -> None:
    source = tmp_path / "api" / "deep" / "module.py"
    source.parent.mkdir(parents=True)
    (tmp_path / "api" / "__init__.py").write_text("from .deep import module\n")
    (source.parent / "__init__.py").write_text("")
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "import importlib\n"
        "import projector.settings\n"
        "from projector import cli\n"
        "if TYPE_CHECKING:\n"
        "    from projector.worker import app\n"
        "def later() -> None:\n"
        "    from projector.commands import rebuild\n"
        "    import projector as p\n"
        "    importlib.import_module('projector.kafka')\n"
        "    __import__('projector')\n"
        "from ... import projector\n"
        "from ...projector import health\n"
        "from .. import sibling\n"
        "import projectors, api.other\n"
    )

    found = violations(tmp_path, "api", frozenset({"projector"}))

    assert [(violation.line, violation.module) for violation in found] == [
        (3, "projector.settings"),
        (4, "projector"),
        (6, "projector.worker"),
        (8, "projector.commands"),
        (9, "projector"),
        (10, "projector.kafka"),
        (11, "projector"),
        (12, "projector"),
        (13, "projector"),
    ]


def test_a_package_with_no_source_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "api").mkdir()
    with pytest.raises(AssertionError, match="no Python source"):
        violations(tmp_path, "api", frozenset({"projector"}))
