"""The house's layout, read from the code's own imports (any engine: nothing here touches a database).

Service's rooms (each domain package is one room, each loose module one room) import one way,
no Python file in `service/` or `models/` passes 500 lines, and `scripts/` holds only the `folio`
command: every module there is reachable by imports from its entry point, or is a migration.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 500


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(path: Path) -> set[str]:
    """Every absolute module name that a file imports (and `from x import y` as x and x.y)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _room(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "service" or len(parts) < 2:
        return None
    head = ROOT / "service" / parts[1]
    return parts[1] if head.is_dir() or head.with_suffix(".py").exists() else None


def room_graph() -> dict[str, set[str]]:
    """Which room imports which, for every room of `service/`."""
    graph: dict[str, set[str]] = {}
    for path in (ROOT / "service").rglob("*.py"):
        source = _room(_module_name(path))
        if source is None:
            continue
        graph.setdefault(source, set())
        for name in _imported(path):
            target = _room(name)
            if target and target != source:
                graph[source].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one room (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(room: str) -> None:
        index[room] = low[room] = len(index)
        stack.append(room)
        for other in sorted(graph.get(room, ())):
            if other not in index:
                visit(other)
                low[room] = min(low[room], low[other])
            elif other in stack:
                low[room] = min(low[room], index[other])
        if low[room] == index[room]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == room:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for room in sorted(graph):
        if room not in index:
            visit(room)
    return found


def test_no_import_cycle_between_rooms():
    assert cycles(room_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_file_in_service_or_models_is_over_500_lines():
    long = {
        str(path.relative_to(ROOT)): lines
        for folder in ("service", "models")
        for path in (ROOT / folder).rglob("*.py")
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_scripts_holds_only_the_folio_command_and_its_migrations():
    modules = {_module_name(path): path for path in (ROOT / "scripts").rglob("*.py")}
    reached, todo = set(), ["scripts.cli"]
    while todo:
        name = todo.pop()
        if name in reached or name not in modules:
            continue
        reached.add(name)
        todo.extend(_imported(modules[name]))
    stray = {
        name
        for name in modules
        if name not in reached and not name.startswith("scripts.migrations")
        and name != "scripts"
    }
    assert stray == set()
