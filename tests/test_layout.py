"""The package's shape: no two modules import each other, directly or round a ring (type-only
imports count: they are a circle a reader still has to follow)."""

from __future__ import annotations

import ast
from pathlib import Path

import pymiio

SRC = Path(pymiio.__file__).resolve().parent.parent


def _modules() -> dict[str, Path]:
    found = {}
    for path in (SRC / "pymiio").rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    targets.add(full if full in modules else node.module)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        # a module's own package (its __init__) is not an edge back to it
        graph[name] = {t for t in targets if t in modules and t != name
                       and not name.startswith(t + ".")}
    return graph


def _rings(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    rings = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    ring = []
                    while True:
                        member = stack.pop()
                        ring.append(member)
                        if member == node:
                            break
                    if len(ring) > 1:
                        rings.append(sorted(ring))
    return rings


def test_no_import_circles() -> None:
    modules = _modules()
    assert "pymiio.cli.main" in modules and "pymiio.simulator.device" in modules
    assert _rings(_imports(modules)) == []


def test_the_ring_finder_finds_rings() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _rings(graph) == [["a", "b", "c"]]


def test_the_lan_wing_offers_its_faces_and_pymiio_keeps_them() -> None:
    import pymiio.lan as lan

    assert lan.AsyncDevice is pymiio.AsyncDevice and lan.Device is pymiio.Device
    assert lan.discover is pymiio.discover and lan.DiscoveredDevice is pymiio.DiscoveredDevice
    for name in lan.__all__:
        assert getattr(lan, name).__module__.startswith("pymiio.lan."), name
    try:
        lan.nothing_of_the_kind  # noqa: B018
    except AttributeError as exc:
        assert "pymiio.lan" in str(exc)
    else:
        raise AssertionError("an unknown name was found")


def test_one_module_of_the_wing_does_not_load_the_faces() -> None:
    import subprocess
    import sys

    script = ("import sys, pymiio.lan.transport; print(sorted(m for m in sys.modules "
              "if m in ('pymiio.lan.client', 'pymiio.lan.sync', 'pymiio.lan.discovery')))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr
