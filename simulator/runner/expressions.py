"""Arithmetic expressions of experiment files: derived parameters and filters, evaluated without ``eval``.

An expression is parsed with :mod:`ast` and only a small language is accepted: numbers, strings, booleans,
arithmetic (``+ - * / // % **``), comparisons, ``and``/``or``/``not``, ``x if c else y``, lists and tuples
(for ``in``), a few functions (``min max abs round int float sqrt log exp ceil floor``) and names. A name is
a free factor of the experiment, a quantity the runner computes (``capacity_per_s``, ``policy``) or, when it
is followed by attributes, a dotted path into the resolved scenario configuration
(``nodes.server.slots``). ``get("models.audio-features.devices.cpu-server")`` reads a path whose parts are
not Python identifiers.

Evaluation is always fast and never ends in a crash: an expression is at most `MAX_LENGTH` characters;
arithmetic takes numbers only (``+`` also joins two strings), so no operator can build a huge string or list;
an integer result may have at most `MAX_INT_BITS` bits (``2 ** 64`` and ``10 ** 10 ** 10`` are refused
before they are computed), a float result must be finite (no inf or NaN) and real (``(-8) ** 0.5`` is
refused); ``round``'s digits are at most `MAX_ROUND_DIGITS`. Every failure (wrong types, division by zero,
overflow, an unknown path, bad call arguments) raises `ExpressionError`.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["FUNCTIONS", "MAX_INT_BITS", "MAX_LENGTH", "MAX_ROUND_DIGITS", "Expression", "ExpressionError",
           "compile_expression"]

MAX_LENGTH = 1000
"""Longest expression accepted (characters)."""
MAX_INT_BITS = 64
"""Largest integer an expression may compute: ``abs(value) < 2 ** MAX_INT_BITS``."""
MAX_ROUND_DIGITS = 30
"""Largest ``abs(ndigits)`` of ``round(x, ndigits)``."""


class ExpressionError(Exception):
    """An expression that cannot be parsed or evaluated; the message says why (without file or field)."""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float)


def _checked(value: Any) -> Any:
    """``value`` if it is within the language's bounds (see the module docstring), else `ExpressionError`."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if value.bit_length() > MAX_INT_BITS:
            raise ExpressionError(f"an integer result is too large (more than {MAX_INT_BITS} bits: the size of "
                                  f"an integer must be below 2**{MAX_INT_BITS})")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ExpressionError(f"a result is {value} (not a finite number)")
    elif isinstance(value, complex):
        raise ExpressionError("a result is a complex number (a fractional power of a negative number?)")
    return value


def _power(base: Any, exponent: Any) -> Any:
    if not (_is_number(base) and _is_number(exponent)):
        raise ExpressionError(f"** needs numbers, got {type(base).__name__} ** {type(exponent).__name__}")
    if isinstance(base, int) and isinstance(exponent, int) and abs(base) > 1 and exponent > MAX_INT_BITS:
        raise ExpressionError(f"an integer result is too large ({base} ** {exponent} has more than "
                              f"{MAX_INT_BITS} bits)")
    try:
        return operator.pow(base, exponent)
    except OverflowError:
        raise ExpressionError(f"a result is too large ({base!r} ** {exponent!r} overflows)") from None


def _arithmetic(symbol: str, function: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """An operator on numbers only (``+`` also on two strings), so no result can be a huge string or list."""

    def apply(left: Any, right: Any) -> Any:
        if _is_number(left) and _is_number(right):
            try:
                return function(left, right)
            except OverflowError:
                raise ExpressionError(f"a result is too large ({left!r} {symbol} {right!r} overflows)") from None
        if symbol == "+" and isinstance(left, str) and isinstance(right, str):
            return left + right
        raise ExpressionError(f"{symbol} needs numbers, got {type(left).__name__} {symbol} "
                              f"{type(right).__name__}")

    return apply


def _round(number: Any, ndigits: Any = None) -> Any:
    if ndigits is not None and (isinstance(ndigits, bool) or not isinstance(ndigits, int)
                                or abs(ndigits) > MAX_ROUND_DIGITS):
        raise ExpressionError(f"round(x, ndigits): ndigits must be an integer between -{MAX_ROUND_DIGITS} and "
                              f"{MAX_ROUND_DIGITS}, got {ndigits!r}")
    if not _is_number(number):
        raise ExpressionError(f"round needs a number, got {type(number).__name__}")
    return round(number, ndigits)


def _numeric(function: Callable[..., Any], strings: bool = False) -> Callable[..., Any]:
    """``function`` restricted to numbers (and strings, for the conversions ``int`` and ``float``)."""

    def apply(*arguments: Any) -> Any:
        for argument in arguments:
            if not (_is_number(argument) or (strings and isinstance(argument, str))):
                raise ExpressionError(f"{function.__name__} needs numbers, got {type(argument).__name__}")
        return function(*arguments)

    apply.__name__ = function.__name__
    return apply


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "min": min, "max": max, "abs": _numeric(abs), "round": _round,
    "int": _numeric(int, strings=True), "float": _numeric(float, strings=True),
    "sqrt": _numeric(math.sqrt), "log": _numeric(math.log), "exp": _numeric(math.exp),
    "ceil": _numeric(math.ceil), "floor": _numeric(math.floor),
}

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: _arithmetic("+", operator.add), ast.Sub: _arithmetic("-", operator.sub),
    ast.Mult: _arithmetic("*", operator.mul), ast.Div: _arithmetic("/", operator.truediv),
    ast.FloorDiv: _arithmetic("//", operator.floordiv), ast.Mod: _arithmetic("%", operator.mod), ast.Pow: _power,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
    ast.GtE: operator.ge, ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


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

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, complex) or not isinstance(node.value, bool | int | float | str):
            raise ExpressionError(f"{node.value!r} is not allowed in an expression (numbers, strings, True and "
                                  "False are)")
        _checked(node.value)

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
                return _checked(_BINARY[type(node.op)](value(node.left), value(node.right)))
            if isinstance(node, ast.UnaryOp):
                operand = value(node.operand)
                if not isinstance(node.op, ast.Not) and not _is_number(operand):
                    raise ExpressionError(f"a sign needs a number, got {type(operand).__name__}")
                return _checked(_UNARY[type(node.op)](operand))
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
                arguments = [value(argument) for argument in node.args]
                try:
                    return _checked(calls[node.func.id](*arguments))
                except (ExpressionError, RecursionError):
                    raise
                except Exception as error:
                    raise ExpressionError(f"{node.func.id}({', '.join(map(_short, arguments))}): "
                                          f"{error or type(error).__name__}") from None
            raise ExpressionError(f"cannot evaluate {type(node).__name__}")  # pragma: no cover (checked)

        try:
            return value(self.tree.body)
        except ExpressionError as error:
            raise ExpressionError(f"{self.text!r} failed: {error}") from None
        except RecursionError:
            raise ExpressionError(f"{self.text!r} is nested too deeply") from None
        except Exception as error:  # every evaluation error is the user's: never a traceback
            raise ExpressionError(f"{self.text!r} failed: {error or type(error).__name__}") from None


def compile_expression(text: Any, special_functions: frozenset[str] = frozenset()) -> Expression:
    """Parse and check an expression string.

    Args:
        text: The expression, e.g. ``"load * capacity_per_s / streams('clips')"``.
        special_functions: Names of functions the caller provides at evaluation besides `FUNCTIONS`.

    Raises:
        ExpressionError: Not a string, not valid syntax, or a construct outside the expression language.
    """
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError(f"must be an expression string, got {_short(text)}")
    if len(text.strip()) > MAX_LENGTH:
        raise ExpressionError(f"is {len(text.strip())} characters long; the limit is {MAX_LENGTH}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
        checker = _Checker(special_functions)
        checker.visit(tree)
    except SyntaxError as error:
        raise ExpressionError(f"{text!r} is not a valid expression: {error.msg}") from None
    except ValueError as error:  # e.g. a NUL character
        raise ExpressionError(f"{text!r} is not a valid expression: {error}") from None
    except (RecursionError, MemoryError):
        raise ExpressionError(f"{text!r} is nested too deeply") from None
    return Expression(text=text.strip(), tree=tree, names=frozenset(checker.names),
                      paths=frozenset(checker.paths))
