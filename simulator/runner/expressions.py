"""Arithmetic expressions of experiment files: derived parameters and filters, evaluated without ``eval``.

An expression is parsed with :mod:`ast` and only a small language is accepted: numbers, strings, booleans,
arithmetic (``+ - * / // % **``), comparisons, ``and``/``or``/``not``, ``x if c else y``, lists and tuples
(for ``in``), a few functions (``min max abs round int float sqrt log exp ceil floor``) and names. A name is
a free factor of the experiment, a quantity the runner computes (``capacity_per_s``, ``policy``) or, when it
is followed by attributes, a dotted path into the resolved scenario configuration
(``nodes.server.slots``). ``get("models.audio-features.devices.cpu-server")`` reads a path whose parts are
not Python identifiers.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["FUNCTIONS", "Expression", "ExpressionError", "compile_expression"]

FUNCTIONS: dict[str, Callable[..., Any]] = {
    "min": min, "max": max, "abs": abs, "round": round, "int": int, "float": float,
    "sqrt": math.sqrt, "log": math.log, "exp": math.exp, "ceil": math.ceil, "floor": math.floor,
}

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
    ast.GtE: operator.ge, ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}


class ExpressionError(Exception):
    """An expression that cannot be parsed or evaluated; the message says why (without file or field)."""


def _dotted(node: ast.expr) -> str | None:
    """``a.b.c`` -> "a.b.c" for a chain of attributes on a name, else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


class _Checker(ast.NodeVisitor):
    """Rejects every construct outside the expression language; collects the names used."""

    def __init__(self, special_functions: frozenset[str]) -> None:
        self.special_functions = special_functions
        self.names: set[str] = set()
        self.paths: set[str] = set()

    def generic_visit(self, node: ast.AST) -> None:
        allowed = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Constant,
                   ast.List, ast.Tuple, ast.Load, ast.operator, ast.unaryop, ast.boolop, ast.cmpop)
        if not isinstance(node, allowed):
            raise ExpressionError(f"{type(node).__name__} is not allowed in an expression")
        if isinstance(node, ast.BinOp) and type(node.op) not in _BINARY:
            raise ExpressionError(f"operator {type(node.op).__name__} is not allowed")
        super().generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        self.names.add(node.id)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        path = _dotted(node)
        if path is None:
            raise ExpressionError("attributes may only follow a name, as in nodes.server.slots")
        self.paths.add(path)

    def visit_Call(self, node: ast.Call) -> None:
        if not isinstance(node.func, ast.Name) or (node.func.id not in FUNCTIONS
                                                   and node.func.id not in self.special_functions):
            known = ", ".join(sorted({*FUNCTIONS, *self.special_functions}))
            raise ExpressionError(f"only these functions may be called: {known}")
        if node.keywords:
            raise ExpressionError("functions take positional arguments only")
        for argument in node.args:
            self.visit(argument)


@dataclass(frozen=True)
class Expression:
    """A checked expression. ``names`` are its bare names, ``paths`` its dotted configuration paths."""

    text: str
    tree: ast.Expression
    names: frozenset[str]
    paths: frozenset[str]

    def evaluate(self, resolve_name: Callable[[str], Any], resolve_path: Callable[[str], Any],
                 functions: Mapping[str, Callable[..., Any]] | None = None) -> Any:
        """Evaluate with ``resolve_name(name)`` for bare names and ``resolve_path("a.b.c")`` for dotted ones.

        Raises:
            ExpressionError: A name or path that cannot be resolved, or an arithmetic error.
        """
        calls = {**FUNCTIONS, **(functions or {})}

        def value(node: ast.expr) -> Any:
            if isinstance(node, ast.Constant):
                return node.value
            if isinstance(node, ast.Name):
                return resolve_name(node.id)
            if isinstance(node, ast.Attribute):
                return resolve_path(_dotted(node) or "")
            if isinstance(node, ast.BinOp):
                return _BINARY[type(node.op)](value(node.left), value(node.right))
            if isinstance(node, ast.UnaryOp):
                return _UNARY[type(node.op)](value(node.operand))
            if isinstance(node, ast.BoolOp):
                if isinstance(node.op, ast.And):
                    result = True
                    for item in node.values:
                        result = value(item)
                        if not result:
                            return result
                    return result
                result = False
                for item in node.values:
                    result = value(item)
                    if result:
                        return result
                return result
            if isinstance(node, ast.Compare):
                left = value(node.left)
                for op, comparator in zip(node.ops, node.comparators, strict=True):
                    right = value(comparator)
                    if not _COMPARE[type(op)](left, right):
                        return False
                    left = right
                return True
            if isinstance(node, ast.IfExp):
                return value(node.body) if value(node.test) else value(node.orelse)
            if isinstance(node, ast.List | ast.Tuple):
                return [value(item) for item in node.elts]
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                return calls[node.func.id](*(value(argument) for argument in node.args))
            raise ExpressionError(f"cannot evaluate {type(node).__name__}")  # pragma: no cover (checked)

        try:
            return value(self.tree.body)
        except ExpressionError:
            raise
        except (ArithmeticError, TypeError, ValueError) as error:
            raise ExpressionError(f"{self.text!r} failed: {error}") from None


def compile_expression(text: Any, special_functions: frozenset[str] = frozenset()) -> Expression:
    """Parse and check an expression string.

    Args:
        text: The expression, e.g. ``"load * capacity_per_s / streams('clips')"``.
        special_functions: Names of functions the caller provides at evaluation besides `FUNCTIONS`.

    Raises:
        ExpressionError: Not a string, not valid syntax, or a construct outside the expression language.
    """
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError(f"must be an expression string, got {text!r}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as error:
        raise ExpressionError(f"{text!r} is not a valid expression: {error.msg}") from None
    checker = _Checker(special_functions)
    checker.visit(tree)
    return Expression(text=text.strip(), tree=tree, names=frozenset(checker.names),
                      paths=frozenset(checker.paths))
