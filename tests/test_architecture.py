"""The package's import graph has no circles and points down the layers; no function in src/ is over 60 lines.

The graph is read from the source with ``ast`` (every ``import`` and ``from ... import``, including the ones inside
functions), so the test needs no import of the package and no extra dependency. Layers are listed top to bottom in
docs/architecture.md; a module may import its own layer and any layer below it, never one above.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "crossvideo_kedro"
SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = SRC / PACKAGE

#: Layers, top (0) to bottom. A module belongs to the layer of its longest matching prefix (a dotted module name).
LAYERS: tuple[tuple[str, ...], ...] = (
    # application: Kedro wiring, parameter validation, the study and run bookkeeping
    ("pipelines", "pipeline_registry", "settings", "study", "study_runner", "framework", "cli", "report", "__main__"),
    # training loops, fine-tuning, prediction and the pretraining model
    ("training",),
    # plain components that know nothing about training loops
    ("models", "losses", "augment", "preprocess", "clip_pool", "datasets", "synth", "metrics", "plots", "plots3d"),
    # the data model and storage helpers every component reads and writes
    ("sequences", "partitions", "atomic", "raw_source"),
    # geometric kernels and leaves
    ("geometry", "_open3d", "errors", "workers", ""),
    # every parameter block as a typed model: imports nothing else of the package
    ("configs",),
)

#: Strongly connected import groups that exist today; each must only shrink (a new or larger circle fails).
KNOWN_CYCLES: tuple[frozenset[str], ...] = ()

MAX_FUNCTION_LINES = 60
#: Functions over the limit today, as "path relative to src/crossvideo_kedro:name"; the list may only shrink.
LONG_FUNCTIONS = frozenset({
})


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    """Module name relative to the package ("" for the package itself, "models.point4d", ...) → file."""
    return {_module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _relative(name: str) -> str | None:
    """``crossvideo_kedro.a.b`` → ``a.b``; the package itself → ``""``; anything outside the package → None."""
    if name == PACKAGE:
        return ""
    return name[len(PACKAGE) + 1:] if name.startswith(PACKAGE + ".") else None


def _imported_modules(tree: ast.AST, module: str, is_package: bool, modules: set[str]) -> set[str]:
    """The package modules an ``import`` or ``from ... import`` in ``tree`` names (grimp's convention).

    ``from a import b`` is an edge to ``a.b`` when that is a module, else to ``a``.
    """
    package = module.split(".") if is_package else module.split(".")[:-1]
    found: set[str | None] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(_relative(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = [PACKAGE, *[p for p in package if p][: len(package) - node.level + 1]]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = _relative(f"{target}.{alias.name}")
                found.add(sub if sub in modules else _relative(target))
    return {name for name in found if name is not None and name in modules}


def import_graph() -> dict[str, set[str]]:
    """Module → the package modules it imports (a package's ``__init__`` counts only when named itself)."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        imported = _imported_modules(tree, name, path.name == "__init__.py", set(modules))
        graph[name] = imported - {name}
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Groups of two or more modules that import each other, directly or through others (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for dep in sorted(graph[node]):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(frozenset(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def layer_of(module: str) -> int:
    """Index in :data:`LAYERS` of the longest prefix matching ``module``; ``""`` matches only the package itself."""
    best, best_len = None, -1
    for level, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            matches = module == prefix or (prefix and module.startswith(prefix + "."))
            if matches and len(prefix) > best_len:
                best, best_len = level, len(prefix)
    if best is None:
        raise KeyError(f"module {PACKAGE}.{module} is in no layer: add it to LAYERS in {Path(__file__).name}")
    return best


def long_functions() -> dict[str, int]:
    """``"path:name"`` → length in lines, for every function or method in the package over the limit."""
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    found[f"{path.relative_to(ROOT).as_posix()}:{node.name}"] = lines
    return found


def test_graph_sees_known_edges() -> None:
    graph = import_graph()
    assert "geometry.camera" in graph["sequences"]
    assert "configs.model" in graph["training.model"]
    assert "geometry.neighbors" in graph["geometry.sampling"]  # an import inside a function counts


def test_strongly_connected_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert strongly_connected(graph) == [frozenset({"a", "b", "c"})]


def test_no_new_import_circles() -> None:
    new = [sorted(group) for group in strongly_connected(import_graph())
           if not any(group <= known for known in KNOWN_CYCLES)]
    assert not new, f"modules of {PACKAGE} that import each other (directly or in a circle): {new}"


def test_no_import_runs_up_a_layer() -> None:
    graph = import_graph()
    upward = sorted(f"{mod} (layer {layer_of(mod)}) imports {dep} (layer {layer_of(dep)})"
                    for mod, deps in graph.items() for dep in deps if layer_of(dep) < layer_of(mod))
    assert not upward, "imports that run up a layer:\n" + "\n".join(upward)


@pytest.mark.parametrize("module", sorted(_modules()))
def test_every_module_has_a_layer(module: str) -> None:
    assert 0 <= layer_of(module) < len(LAYERS)


def test_no_function_over_the_limit() -> None:
    too_long = {name: lines for name, lines in long_functions().items() if name not in LONG_FUNCTIONS}
    assert not too_long, f"functions over {MAX_FUNCTION_LINES} lines (split them into named steps): {too_long}"


def test_known_cycles_are_still_there() -> None:
    groups = strongly_connected(import_graph())
    gone = [sorted(known) for known in KNOWN_CYCLES if not any(group & known for group in groups)]
    assert not gone, f"no longer import each other; remove from KNOWN_CYCLES: {gone}"


def test_long_function_allow_list_only_names_long_functions() -> None:
    stale = LONG_FUNCTIONS - set(long_functions())
    assert not stale, f"no longer over {MAX_FUNCTION_LINES} lines; remove from LONG_FUNCTIONS: {sorted(stale)}"


@pytest.mark.parametrize(("upper", "lower"), [
    ("pipelines.finetune.nodes", "training.finetune"),
    ("framework.hooks", "training.distributed"),
    ("training.model", "configs.model"),
    ("models.point4d", "sequences"),
    ("sequences", "geometry.camera"),
    ("augment", "configs.augment"),
    ("sequences", "errors"),
])
def test_layers_point_down(upper: str, lower: str) -> None:
    assert layer_of(upper) < layer_of(lower)


def test_geometric_kernels_share_a_layer_above_the_configs() -> None:
    assert layer_of("geometry.sampling") == layer_of("geometry.neighbors") == layer_of("errors") == len(LAYERS) - 2


def test_configs_import_nothing_else_of_the_package() -> None:
    graph = import_graph()
    assert LAYERS[-1] == ("configs",) and layer_of("configs.pretrain") == len(LAYERS) - 1
    outside = sorted(f"{mod} imports {dep}" for mod, deps in graph.items() if layer_of(mod) == len(LAYERS) - 1
                     for dep in deps if not (dep == "configs" or dep.startswith("configs.")))
    assert not outside, outside


def test_unknown_top_level_module_must_be_placed() -> None:
    with pytest.raises(KeyError, match="add it to LAYERS"):
        layer_of("brand_new_module")
