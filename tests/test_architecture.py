"""The package's layout shows its architecture: no import cycle, no private name imported
across modules, a small top level, the ODE core in its own sub-package.

The import graph is read from the sources (every ``import``, also those inside functions:
a lazy import that closes a loop is still a cycle).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "teacherstudent"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]):
    """(imported module, imported names) of every import statement in ``path``."""
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "teacherstudent":
                    yield a.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                stem = base[: len(base) - node.level + 1]
                target = ".".join(stem + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "teacherstudent":
                continue
            names = [a.name for a in node.names]
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in known]
            for s in subs:
                yield s, []
            rest = [n for n in names if f"{target}.{n}" not in known]
            if rest or not subs:
                yield target, rest


def _graph():
    mods = _modules()
    known = set(mods)
    edges: dict[str, set[str]] = {m: set() for m in mods}
    private: list[str] = []
    for name, path in mods.items():
        for target, names in _imports(name, path, known):
            if target in known and target != name:
                edges[name].add(target)
            for n in names:
                if n.startswith("_") and not (n.startswith("__") and n.endswith("__")):
                    private.append(f"{name} imports {n} from {target}")
    return edges, private


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in edges:
        if v not in index:
            visit(v)
    return out


def test_graph_reader_sees_a_cycle():
    # negative control: the reader finds a planted cycle and a private import
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(edges) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle():
    edges, _ = _graph()
    assert len(edges) > 40  # the reader found the package
    assert _cycles(edges) == []


def test_no_private_name_across_modules():
    _, private = _graph()
    assert private == []


def test_top_level_is_small_and_the_ode_core_is_a_sub_package():
    top = [p for p in PKG.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    assert len(top) <= 12, sorted(p.name for p in top)
    for name in ("integrals", "drift", "solvers"):
        assert not (PKG / f"{name}.py").exists()
    assert (PKG / "ode" / "__init__.py").exists()
    assert (PKG / "ode" / "integrals" / "__init__.py").exists()
    assert (PKG / "ode" / "drift.py").exists() and (PKG / "ode" / "solvers.py").exists()
    for cmd in ("ode", "simulate", "compare", "sweep", "plot", "linear", "reproduce"):
        assert (PKG / "cli" / f"{cmd}.py").exists(), cmd


def test_public_api_after_a_plain_import():
    code = (
        "import teacherstudent as ts\n"
        "assert callable(ts.integrate) and callable(ts.ode.extend)\n"
        "assert callable(ts.ode.integrate) and ts.ode.VectorField and ts.ode.SaveAt\n"
        "import sys\n"
        "assert 'torch' not in sys.modules and 'dask' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
