#!/usr/bin/env python3
"""Write the sync client ``loader/arc_eval/client.py`` from the async one, ``loader/arc_eval/aio.py``.

The conversion works on the syntax tree (after psycopg's ``tools/async_to_sync.py``):

* ``async def`` / ``async with`` / ``async for`` lose ``async``, ``await x`` becomes ``x``;
* names of async things become their sync twins' (:data:`NAMES`: ``AsyncArcEval`` -> ``ArcEval``,
  ``ALock`` -> ``Lock``, ``asleep`` -> ``sleep`` ...); docstrings get :data:`DOC_NAMES`;
* ``off_loop(func, *args)`` (run ``func`` in a worker thread) becomes ``func(*args)``;
* ``if True:  # ASYNC`` keeps its ``else:`` branch (if any), ``if False:  # ASYNC`` its body: the few
  places where the faces differ.

The output gets a header, then ``ruff`` fixes what it can (import order) and formats it. Comments are not carried over.

    python tools/async_to_sync.py           # rewrite client.py
    python tools/async_to_sync.py --check   # exit 1 when client.py is not what it would write
"""

from __future__ import annotations

import argparse
import ast
import difflib
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "loader" / "arc_eval" / "aio.py"
TARGET = ROOT / "loader" / "arc_eval" / "client.py"
FORMAT_AS = TARGET  # ruff reads the project's settings for this path
HEADER = "# generated from aio.py by tools/async_to_sync.py; do not edit\n\n"

NAMES = {
    "AsyncArcEval": "ArcEval",
    "AsyncConnection": "Connection",
    "AsyncConnectionPool": "ConnectionPool",
    "AsyncCursor": "Cursor",
    "AEvent": "Event",
    "ALock": "Lock",
    "AQueue": "Queue",
    "AWorker": "Worker",
    "agather": "gather",
    "asleep": "sleep",
    "aspawn": "spawn",
    "wait_timeout": "wait",
    "add_async": "add",
    "drive_async": "drive",
    "run_op_async": "run_op",
    "configure_async": "configure_connection",
    "register_vector_async": "register_vector",
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
}
# whole string constants (``__all__``, the pool's name)
STRINGS = {"AsyncArcEval": "ArcEval", "arc-eval-async": "arc-eval"}
# words in docstrings
DOC_NAMES = {"AsyncArcEval": "ArcEval", "arc_eval.aio": "arc_eval.client"}
# async-only helpers: the import goes, the call is unwrapped
UNWRAP = "off_loop"


class AsyncToSync(ast.NodeTransformer):
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def _marker(self, node: ast.If) -> bool | None:
        """The branch an ``if True|False:  # ASYNC`` takes on the async face, or None for any other if."""
        test = node.test
        constant = isinstance(test, ast.Constant) and isinstance(test.value, bool)
        if constant and re.search(r"#\s*ASYNC\b", self.lines[node.lineno - 1]):
            return test.value
        return None

    def _block(self, stmts: list[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for stmt in stmts:
            new = self.visit(stmt)
            out.extend(new if isinstance(new, list) else [new] if new is not None else [])
        return out

    def visit_If(self, node: ast.If) -> ast.AST | list[ast.stmt]:
        marker = self._marker(node)
        if marker is None:
            return self.generic_visit(node)
        return self._block(node.orelse if marker else node.body)

    def _fix_docstring(
        self, node: ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
    ) -> None:
        first = node.body[0] if node.body else None
        if (
            isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
        ):
            text = first.value.value
            for old, new in DOC_NAMES.items():
                text = re.sub(rf"\b{re.escape(old)}\b", new, text)
            first.value.value = text

    def visit_Module(self, node: ast.Module) -> ast.AST:
        self._fix_docstring(node)
        return self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        self._fix_docstring(node)
        node.name = NAMES.get(node.name, node.name)
        return self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        self._fix_docstring(node)
        node.name = NAMES.get(node.name, node.name)
        return self.generic_visit(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        return self.visit_FunctionDef(ast.copy_location(ast.FunctionDef(**node.__dict__), node))

    def visit_AsyncWith(self, node: ast.AsyncWith) -> ast.AST:
        return self.generic_visit(ast.copy_location(ast.With(**node.__dict__), node))

    def visit_AsyncFor(self, node: ast.AsyncFor) -> ast.AST:
        return self.generic_visit(ast.copy_location(ast.For(**node.__dict__), node))

    def visit_Await(self, node: ast.Await) -> ast.AST:
        return self.visit(node.value)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        if isinstance(node.func, ast.Name) and node.func.id == UNWRAP:
            node.func = node.args.pop(0)
        return self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST | None:
        node.names = [alias for alias in node.names if alias.name != UNWRAP]
        for alias in node.names:
            alias.name = NAMES.get(alias.name, alias.name)
        return node if node.names else None

    def visit_Name(self, node: ast.Name) -> ast.AST:
        node.id = NAMES.get(node.id, node.id)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        node.attr = NAMES.get(node.attr, node.attr)
        return self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, str):
            node.value = STRINGS.get(node.value, node.value)
        return node


def ruff(*args: str, source: str) -> str:
    exe = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if exe is None:
        raise SystemExit("ruff is not installed (pip install -e '.[dev]')")
    done = subprocess.run(
        [exe, *args, "--stdin-filename", str(FORMAT_AS), "-"],
        input=source,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise SystemExit(f"ruff {args[0]} failed on the generated code:\n{done.stderr}")
    return done.stdout


def generate(source: str) -> str:
    """The sync module for the async module ``source``."""
    tree = AsyncToSync(source.splitlines()).visit(ast.parse(source))
    code = HEADER + ast.unparse(ast.fix_missing_locations(tree)) + "\n"
    code = ruff(
        "check", "--quiet", "--fix", "--exit-zero", source=code
    )  # sorts imports, drops unparse's extra ()
    return ruff("format", "--quiet", source=code)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if client.py differs from the output")
    args = parser.parse_args(argv)
    code = generate(SOURCE.read_text())
    current = TARGET.read_text() if TARGET.exists() else ""
    if args.check:
        if current == code:
            return 0
        diff = difflib.unified_diff(
            current.splitlines(keepends=True), code.splitlines(keepends=True), "client.py", "generated"
        )
        sys.stderr.write("".join(diff))
        sys.stderr.write(f"{TARGET.name} is stale: run `python tools/async_to_sync.py` to regenerate it\n")
        return 1
    if current != code:
        TARGET.write_text(code)
    return 0


if __name__ == "__main__":
    sys.exit(main())
