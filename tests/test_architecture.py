"""Architecture rules, checked on the source with `ast`.

Imports flow one way: `roadmap` → `workflows`, `notifications`. The two engines are generic: they never import
the product nor each other, and their identifiers carry no school-domain word. Every module is in the module map
of docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("roadmap", "workflows", "notifications")
ENGINES = ("workflows", "notifications")
FORBIDDEN_IMPORTS = {
    "workflows": {"roadmap", "notifications"},
    "notifications": {"roadmap", "workflows"},
}
# Words of the school domain (identifiers are split on "_" and on case changes, then lower-cased).
DOMAIN_WORDS = frozenset({
    "school", "schools", "ecole", "ecoles", "uai", "uais", "ien", "iens", "rne", "circonscription",
    "circonscriptions", "circo", "academie", "academies", "departement", "departements", "director", "directors",
    "directeur", "directrice", "dsden", "dasen", "annuaire", "onde",
})
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def python_files(package: str) -> list[Path]:
    files = sorted((REPO / package).rglob("*.py"))
    assert files, f"no Python file under {package}/"
    return files


def parse(path: Path) -> ast.Module:
    return _TREES[path]


def _parse_now(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(tree: ast.Module, current: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """Every module the code imports (relative imports resolved), with its line."""
    base = current.split(".") if is_package else current.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - (node.level - 1)]
                module = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            yield node.lineno, module
            for alias in node.names:  # `from package import module`
                yield node.lineno, f"{module}.{alias.name}" if module else alias.name
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in ("import_module", "__import__"):
                yield node.lineno, node.args[0].value


def import_violations(tree: ast.Module, current: str, is_package: bool, forbidden: set[str]) -> list[str]:
    return [f"line {line}: imports {module}" for line, module in imported_modules(tree, current, is_package)
            if module.split(".")[0] in forbidden]


def defined_names(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """Names the code defines: functions, classes, arguments, variables, attributes assigned, import aliases."""
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield node.lineno, node.name
        elif isinstance(node, ast.arg):
            yield node.lineno, node.arg
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            yield node.lineno, node.id
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            yield node.lineno, node.attr
        elif isinstance(node, ast.alias) and node.asname:
            yield getattr(node, "lineno", 0), node.asname
        elif isinstance(node, ast.Global | ast.Nonlocal):
            for name in node.names:
                yield node.lineno, name


def words(identifier: str) -> set[str]:
    return {word.lower() for word in _WORD.findall(identifier)}


def domain_violations(tree: ast.Module) -> list[str]:
    return [f"line {line}: {name} ({', '.join(sorted(words(name) & DOMAIN_WORDS))})"
            for line, name in defined_names(tree) if words(name) & DOMAIN_WORDS]


# ------------------------------------------------------------------------------------------------- rules


@pytest.mark.parametrize("package", ENGINES)
def test_engines_import_neither_the_product_nor_each_other(package: str) -> None:
    problems: list[str] = []
    for path in python_files(package):
        tree = parse(path)
        name = module_name(path)
        for problem in import_violations(tree, name, path.name == "__init__.py", FORBIDDEN_IMPORTS[package]):
            problems.append(f"{path.relative_to(REPO)}, {problem}")
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("package", ENGINES)
def test_engines_name_nothing_after_the_school_domain(package: str) -> None:
    problems = [f"{path.relative_to(REPO)}, {problem}"
                for path in python_files(package) for problem in domain_violations(parse(path))]
    assert problems == [], "\n".join(problems)


def documented_modules() -> list[Path]:
    return [path for package in PACKAGES for path in python_files(package)
            if path.name != "__init__.py" and "versions" not in path.relative_to(REPO / package).parts[:-1]]


def test_every_module_is_in_the_architecture_doc() -> None:
    doc = REPO / "docs" / "ARCHITECTURE.md"
    assert doc.is_file(), "docs/ARCHITECTURE.md is missing: it maps the modules of roadmap/, workflows/, notifications/"
    text = doc.read_text(encoding="utf-8")
    missing = [path.relative_to(REPO).as_posix() for path in documented_modules()
               if path.relative_to(REPO).as_posix() not in text and module_name(path) not in text]
    assert missing == [], "modules absent from docs/ARCHITECTURE.md: " + ", ".join(missing)


def national_item_ids() -> set[str]:
    document = tomllib.loads((REPO / "data" / "roadmaps" / "national.toml").read_text(encoding="utf-8"))
    return {item["id"] for step in document["steps"] for item in step.get("checklist", [])}


def item_id_literals(tree: ast.Module, item_ids: set[str]) -> list[str]:
    """String literals equal to a checklist item id: the item belongs in the definition, not in Python."""
    return [f"line {node.lineno}: {node.value!r}" for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in item_ids]


@pytest.mark.parametrize("package", ("roadmap", "workflows"))
def test_no_module_hard_codes_an_item_of_the_national_roadmap(package: str) -> None:
    item_ids = national_item_ids()
    problems = [f"{path.relative_to(REPO)}, {problem}"
                for path in python_files(package) for problem in item_id_literals(parse(path), item_ids)]
    assert problems == [], "item ids belong in the definition (guard parameters, data files):\n" + "\n".join(problems)


def test_the_module_list_is_complete() -> None:
    listed = {path.relative_to(REPO).as_posix() for path in documented_modules()}
    assert {"roadmap/cli/entry.py", "roadmap/migrations/env.py", "workflows/engine.py"} <= listed
    assert not any("/versions/" in path or path.endswith("__init__.py") for path in listed)


# ------------------------------------------------------------------------------ the checks can fail


VIOLATIONS_SNIPPET = (
        "import roadmap.models\n"
        "from notifications import outbox\n"
        "from .. import roadmap as product\n"
        "import importlib\n"
        "importlib.import_module('roadmap.cli')\n"
        "class SchoolRegistry:\n"
        "    def find(self, uai: str, *, ien_email: str) -> None:\n"
        "        self.ecoleCount = 0\n"
        "        current_rne = uai\n"
        "def client_recipient(orient: str, gradient: str) -> None: ...\n"
)


def test_the_checks_catch_violations() -> None:
    snippet = parse_text(VIOLATIONS_SNIPPET)
    imports = import_violations(snippet, "workflows.engine", False, FORBIDDEN_IMPORTS["workflows"])
    assert {problem.split(":")[0] for problem in imports} == {"line 1", "line 2", "line 3", "line 5"}
    found = {problem.split(": ")[1].split(" ")[0] for problem in domain_violations(snippet)}
    assert found == {"SchoolRegistry", "uai", "ien_email", "ecoleCount", "current_rne"}  # not client/recipient...
    literals = item_id_literals(parse_text(ITEM_SNIPPET), national_item_ids())
    assert literals == ["line 1: 'council_date'"]


def parse_text(source: str) -> ast.Module:
    return _SNIPPETS[source]


# Parsed once, at collection time: CPython 3.11.7's ast module can raise a spurious "AST constructor recursion
# depth mismatch" after another test in the same worker (hypothesis) has changed the recursion limit.
_TREES = {path: _parse_now(path) for package in PACKAGES for path in python_files(package)}
ITEM_SNIPPET = 'COUNCIL_DATE = ("school_council", "council_date")  # the step id is not an item id\n'
_SNIPPETS = {VIOLATIONS_SNIPPET: ast.parse(VIOLATIONS_SNIPPET), ITEM_SNIPPET: ast.parse(ITEM_SNIPPET)}
