"""The architecture is checked, not hoped for: layer contracts, import cycles, module sizes, test layout.

`.importlinter` holds the layer contracts (docs/ARCHITECTURE.md, "Layers"); `lint-imports`
counts every import, function-local ones too.  The cycle check below covers what the layer
contract does not: modules inside one package importing each other in a circle.
"""
import ast
import os
import subprocess
import sys
from pathlib import Path

import grimp

import qonnx_c4ml

REPO = Path(__file__).resolve().parents[1]


def _environment():
    """The test process' environment, with the package's source directory importable first
    (lint-imports must analyse the code under test, not another installed copy)."""
    source = str(Path(qonnx_c4ml.__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([source] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def test_layer_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    command = [str(lint)] if lint.exists() else [sys.executable, "-m", "importlinter.cli"]
    result = subprocess.run(command + ["--config", str(REPO / ".importlinter"), "--no-cache"],
                            cwd=REPO, env=_environment(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def import_cycles(graph):
    """The strongly connected components (more than one module) of the import graph."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(start):  # iterative Tarjan: the graph is deep enough to matter for recursion
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            module, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[module] = min(low[module], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[module])
            if low[module] == index[module]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == module:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return cycles


def test_no_import_cycles():
    graph = grimp.build_graph("qonnx_c4ml", cache_dir=None)
    assert import_cycles(graph) == []


def test_cycle_finder_finds_a_cycle():
    graph = grimp.ImportGraph()
    for module in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
        graph.add_module(module)
    graph.add_import(importer="pkg.a", imported="pkg.b")
    graph.add_import(importer="pkg.b", imported="pkg.a")
    graph.add_import(importer="pkg.c", imported="pkg.a")
    assert import_cycles(graph) == [["pkg.a", "pkg.b"]]


SOURCE = Path(qonnx_c4ml.__file__).resolve().parent
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
LONG_FUNCTION_MARK = "Longer than 80 lines"  # a long function's docstring says why, starting so


def test_modules_are_small_enough_to_read():
    sizes = {str(f.relative_to(SOURCE)): len(f.read_text().splitlines()) for f in SOURCE.rglob("*.py")}
    assert sizes and {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_long_functions_say_why():
    unexplained = []
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES and LONG_FUNCTION_MARK not in (ast.get_docstring(node) or ""):
                    unexplained.append(f"{path.relative_to(SOURCE)}:{node.lineno} {node.name} ({length} lines)")
    assert unexplained == []


TESTS = Path(__file__).resolve().parent


def mirrored_test(module):
    """tests/<package>/test_<module>.py for src/qonnx_c4ml/<package>/<module>.py (docs/ARCHITECTURE.md §4.3)."""
    relative = module.relative_to(SOURCE)
    return TESTS / relative.parent / f"test_{relative.name}"


def test_every_module_has_its_mirrored_test_file():
    modules = sorted(p for p in SOURCE.rglob("*.py") if p.name != "__init__.py")
    missing = [f"{m.relative_to(SOURCE)} -> {mirrored_test(m).relative_to(TESTS.parent)}"
               for m in modules if not mirrored_test(m).is_file()]
    assert modules and not missing, "modules without their test file:\n" + "\n".join(missing)


def test_test_directories_of_packages_are_packages():
    """Equal basenames in two test directories (lbir/test_conv.py, transformations/lowering/test_conv.py)
    collect only when the directories are packages; tests/ itself is not one (pytest.ini's pythonpath)."""
    packages = {p.parent.relative_to(SOURCE) for p in SOURCE.rglob("__init__.py")} - {Path(".")}
    missing = [str(package) for package in sorted(packages)
               if (TESTS / package).is_dir() and not (TESTS / package / "__init__.py").is_file()]
    assert not missing and not (TESTS / "__init__.py").exists(), missing
