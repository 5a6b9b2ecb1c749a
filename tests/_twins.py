"""The check that an asyncio twin class is its sync class with ``async``/``await``."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any


class _Sync(ast.NodeTransformer):
    """Turn async defs into defs, drop awaits and docstrings (which may differ)."""

    def visit_AsyncFunctionDef(self, fn: ast.AsyncFunctionDef) -> Any:
        self.generic_visit(fn)
        return ast.copy_location(ast.FunctionDef(**{f: getattr(fn, f) for f in fn._fields}), fn)

    def visit_Await(self, await_: ast.Await) -> Any:
        return self.visit(await_.value)

    def visit_Expr(self, expr: ast.Expr) -> Any:
        if isinstance(expr.value, ast.Constant) and isinstance(expr.value.value, str):
            return None
        return self.generic_visit(expr)


def sync_text(node: ast.ClassDef, renames: dict[str, str]) -> str:
    """Return *node* as sync source text, with each name in *renames* replaced."""
    text = ast.unparse(_Sync().visit(node))
    for old, new in renames.items():
        text = text.replace(old, new)
    return text


def classes(path: Path) -> dict[str, ast.ClassDef]:
    """Return the top-level classes of the module at *path*, by name."""
    tree = ast.parse(path.read_text())
    return {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
