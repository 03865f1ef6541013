"""Linear mapping expressions read backwards, so a canonical value can be written in the
source's own field and unit: `WEIGHT_LB * 0.45359237` turns 4.742 kg into 10.45 lb.

Only expressions that read one column through `+ - * /` with constants (and casts,
parentheses and signs around them) are inverted; anything else has no inverse here.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from decimal import Decimal

from sqlglot import exp

# Enough digits that a chain of a few multiplications loses nothing a source can hold.
_PRECISION = 34
# When the source's scale is unknown, the most decimals tried to reproduce a canonical value.
_MOST_PLACES = 12


@dataclass(frozen=True)
class _Step:
    """One operation between the column and the canonical value: `value op constant`,
    or `constant - value` when `op` is "k-"."""

    op: str
    constant: Decimal

    def forward(self, value: Decimal) -> Decimal:
        if self.op == "+":
            return value + self.constant
        if self.op == "-":
            return value - self.constant
        if self.op == "k-":
            return self.constant - value
        if self.op == "*":
            return value * self.constant
        return value / self.constant

    def backward(self, value: Decimal) -> Decimal:
        if self.op == "+":
            return value - self.constant
        if self.op == "-":
            return value + self.constant
        if self.op == "k-":
            return self.constant - value
        if self.op == "*":
            return value / self.constant
        return value * self.constant


@dataclass(frozen=True)
class Linear:
    """A canonical column computed from one source column by steps, outermost first."""

    column: str
    steps: tuple[_Step, ...]
    # Decimals of a cast applied straight to the column (`CAST(X AS DECIMAL(10, 2))`).
    cast_scale: int | None = None

    def forward(self, value: Decimal) -> Decimal:
        with decimal.localcontext(prec=_PRECISION):
            for step in reversed(self.steps):
                value = step.forward(value)
        return value

    def backward(self, value: Decimal) -> Decimal:
        with decimal.localcontext(prec=_PRECISION):
            for step in self.steps:
                value = step.backward(value)
        return value

    def to_source(
        self, value: object, *, scale: int | None = None, canonical_scale: int | None = None
    ) -> str | None:
        """The source's value for a canonical one, as text, rounded to the source's `scale`.

        Without a known scale, the fewest decimals that the mapping turns back into the
        same canonical value (at `canonical_scale`): a value the source holds comes back
        with its own digits. Raises ValueError for a value that is not a number.
        """
        if value is None or value == "":
            return None
        try:
            wanted = Decimal(str(value))
        except decimal.InvalidOperation:
            raise ValueError(f"{value!r} is not a number") from None
        if not wanted.is_finite():
            raise ValueError(f"{value!r} is not a number")
        source = self.backward(wanted)
        places = scale if scale is not None else self.cast_scale
        if places is None:
            places = self._places(source, wanted, canonical_scale)
        return _plain(_rounded(source, places))

    def _places(self, source: Decimal, wanted: Decimal, canonical_scale: int | None) -> int:
        if canonical_scale is None:
            return _MOST_PLACES
        target = _rounded(wanted, canonical_scale)
        for places in range(_MOST_PLACES + 1):
            if _rounded(self.forward(_rounded(source, places)), canonical_scale) == target:
                return places
        return _MOST_PLACES


def linear(tree: exp.Expression) -> Linear | None:
    """The steps from one column to `tree`, or None when `tree` is not linear in one column."""
    steps: list[_Step] = []
    node = _unwrap(tree)
    cast_scale = None
    while not isinstance(node, exp.Column):
        if isinstance(node, exp.Cast):  # TryCast is a Cast too
            if not node.to.is_type(*exp.DataType.NUMERIC_TYPES):
                return None
            inner = _unwrap(node.this)
            if isinstance(inner, exp.Column):
                cast_scale = _scale(node.to)
            node = inner
        elif isinstance(node, exp.Neg):
            steps.append(_Step("*", Decimal(-1)))
            node = _unwrap(node.this)
        elif isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Div)):
            step, node = _step(node)
            if step is None or node is None:
                return None
            steps.append(step)
        else:
            return None
    if node.table:
        return None
    return Linear(node.name, tuple(steps), cast_scale)


def _step(node: exp.Binary) -> tuple[_Step | None, exp.Expression | None]:
    """The step of one operation with a constant on one side, and the other side."""
    left, right = _constant(node.this), _constant(node.expression)
    if (left is None) == (right is None):
        return None, None
    op = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/"}[type(node)]
    if right is not None:
        step, rest = _Step(op, right), node.this
    elif op == "/":
        # constant / column is not linear.
        return None, None
    else:
        step, rest = _Step("k-" if op == "-" else op, left), node.expression
    if op in ("*", "/") and step.constant == 0:
        return None, None
    return step, _unwrap(rest)


def _constant(node: exp.Expression) -> Decimal | None:
    """The value of a subtree without columns, such as `0.45359237` or `(5 / 9)`."""
    node = _unwrap(node)
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return Decimal(node.this)
        except decimal.InvalidOperation:
            return None
    if isinstance(node, exp.Neg):
        inner = _constant(node.this)
        return None if inner is None else -inner
    if isinstance(node, exp.Cast):
        return _constant(node.this)
    if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Div)):
        left, right = _constant(node.this), _constant(node.expression)
        if left is None or right is None or (isinstance(node, exp.Div) and right == 0):
            return None
        with decimal.localcontext(prec=_PRECISION):
            if isinstance(node, exp.Add):
                return left + right
            if isinstance(node, exp.Sub):
                return left - right
            return left * right if isinstance(node, exp.Mul) else left / right
    return None


def _unwrap(node: exp.Expression) -> exp.Expression:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _scale(data_type: exp.DataType) -> int | None:
    if data_type.is_type(*exp.DataType.INTEGER_TYPES):
        return 0
    if data_type.is_type(exp.DataType.Type.DECIMAL) and len(data_type.expressions) == 2:
        scale = data_type.expressions[1].this
        if isinstance(scale, exp.Literal) and scale.this.isdigit():
            return int(scale.this)
    return None


def _rounded(value: Decimal, places: int) -> Decimal:
    with decimal.localcontext(prec=_PRECISION):
        return value.quantize(Decimal(1).scaleb(-places), rounding=decimal.ROUND_HALF_UP)


def _plain(value: Decimal) -> str:
    """Fixed-point text, never `1E+1`; negative zero is zero."""
    return format(value + 0, "f")
