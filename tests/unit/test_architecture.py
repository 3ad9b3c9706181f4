"""The house rules, checked from the source: each DVC stage depends on every project file its
script imports, and imports point down the layers of docs/architecture.md with no circles."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "transformer_mlops"


def documented_layers() -> list[tuple[str, list[str]]]:
    """The layer table of docs/architecture.md, lowest layer first: (name, members), where a
    member is a file or folder name under src/transformer_mlops."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    table = text.split("<!-- layers -->")[1].split("<!-- /layers -->")[0]
    layers = []
    for row in table.strip().splitlines()[2:]:
        name, modules = (cell.strip() for cell in row.strip("|").split("|")[:2])
        members = [m.strip("`/") for m in re.findall(r"`([^`]+)`", modules.split("(")[0])]
        layers.append((name, members))
    return layers[::-1]


# Lowest first; a module may import its own layer or any layer below it, never one above.
LAYERS = documented_layers()


def module_file(name: str) -> Path | None:
    """The file of a `transformer_mlops...` module name (a package's __init__.py), or None."""
    parts = name.split(".")
    if parts[0] != "transformer_mlops":
        return None
    base = PACKAGE.joinpath(*parts[1:])
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def imported_modules(path: Path, parents: bool = True) -> set[str]:
    """Every `transformer_mlops` module `path` imports, at the top or inside functions; with
    `parents`, also the packages Python initialises first (importing a.b.c runs a/__init__.py
    and a/b/__init__.py)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            # `from package import module` imports that module too
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    found = set()
    for name in names:
        if module_file(name) is None:
            continue
        parts = name.split(".")
        found.update(
            ".".join(parts[:i]) for i in range(1 if parents else len(parts), len(parts) + 1)
        )
    return found


@cache
def imports_of(path: Path, parents: bool = True) -> frozenset[Path]:
    """Project files `path` imports directly (see `imported_modules`)."""
    return frozenset(module_file(name) for name in imported_modules(path, parents)) - {path}


def closure(script: Path) -> set[Path]:
    """Every project file that running `script` may execute (transitively)."""
    seen, todo = set(), [script]
    while todo:
        for path in imports_of(todo.pop()):
            if path not in seen:
                seen.add(path)
                todo.append(path)
    return seen


def has_code(path: Path) -> bool:
    """False for a package __init__ holding only a docstring: importing it changes nothing."""
    body = ast.parse(path.read_text(encoding="utf-8")).body
    return any(
        not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
        and not (isinstance(node, ast.ImportFrom) and node.module == "__future__")
        for node in body
    )


def stages() -> dict[str, tuple[Path, list[str]]]:
    """DVC stage name -> (its Python script, its deps), `foreach` stages expanded."""
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    found = {}
    for name, stage in spec["stages"].items():
        items = stage.get("foreach", [None])
        body = stage.get("do", stage)
        for item in items:
            fill = (lambda text, item=item: text.replace("${item}", item)) if item else str
            script = fill(body["cmd"]).split()[1]
            found[f"{name}@{item}" if item else name] = (
                ROOT / script,
                [fill(dep) for dep in body["deps"]],
            )
    return found


def layer_of(path: Path) -> int:
    relative = path.relative_to(PACKAGE).parts
    for rank, (_, members) in enumerate(LAYERS):
        if relative[0] in members:
            return rank
    raise AssertionError(f"{path}: in no layer of LAYERS; add it there")


STAGES = stages()


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_stage_deps_cover_every_imported_file(stage: str) -> None:
    script, deps = STAGES[stage]
    covered = [ROOT / dep for dep in deps]
    assert script in covered, f"{stage}: its script {script.relative_to(ROOT)} is not a dep"
    missing = sorted(
        str(path.relative_to(ROOT))
        for path in closure(script)
        if has_code(path) and not any(path == dep or dep in path.parents for dep in covered)
    )
    assert not missing, f"dvc.yaml stage {stage} imports files missing from its deps: {missing}"


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_stage_code_deps_are_imported(stage: str) -> None:
    """No stale code deps: each source folder or file a stage lists is one it imports from."""
    script, deps = STAGES[stage]
    used = closure(script) | {script}
    stale = [
        dep
        for dep in deps
        if dep.startswith(("src/", "pipelines/"))
        and not any(path == ROOT / dep or ROOT / dep in path.parents for path in used)
    ]
    assert not stale, f"dvc.yaml stage {stage} lists code it never imports: {stale}"


def test_imports_point_down_the_layers() -> None:
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for target in imports_of(path):
            if layer_of(target) > layer_of(path):
                upward.append(
                    f"{path.relative_to(PACKAGE)} ({LAYERS[layer_of(path)][0]}) imports "
                    f"{target.relative_to(PACKAGE)} ({LAYERS[layer_of(target)][0]})"
                )
    assert not upward, "imports from a lower layer to a higher one:\n" + "\n".join(upward)


def test_no_import_circles() -> None:
    # explicit imports only: a package's __init__ running before its modules is no circle
    graph = {path: imports_of(path, parents=False) for path in PACKAGE.rglob("*.py")}
    circles = []
    for start in graph:
        stack = [(start, (start,))]
        while stack:
            node, trail = stack.pop()
            for target in graph.get(node, ()):
                if target == start:
                    circles.append(
                        " -> ".join(str(p.relative_to(PACKAGE)) for p in (*trail, start))
                    )
                elif target not in trail and len(trail) < 12:
                    stack.append((target, (*trail, target)))
    assert not circles, "import circles:\n" + "\n".join(sorted(set(circles))[:20])


def test_every_package_module_has_a_layer() -> None:
    for path in PACKAGE.rglob("*.py"):
        layer_of(path)
