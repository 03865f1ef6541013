"""The template environment every report shares: autoescaping, number formats, page frame."""

from __future__ import annotations

from decimal import Decimal

from jinja2 import Environment, PackageLoader, StrictUndefined

_env = Environment(
    loader=PackageLoader("reports", "templates"),
    # Every value is escaped for HTML; nothing a source system sends can become markup.
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def money(value: Decimal | float | int | None) -> str:
    if value is None:
        return ""
    return f"{Decimal(value):,.2f}"


def count(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def signed(value: Decimal | int, *, as_money: bool = False) -> str:
    """`+1,234.00` or `-3` (with a true minus sign): a change always shows its direction."""
    text = money(abs(value)) if as_money else count(abs(int(value)))
    if value > 0:
        return f"+{text}"
    if value < 0:
        return f"\N{MINUS SIGN}{text}"
    return text


_env.filters["money"] = money
_env.filters["count"] = count
_env.filters["signed"] = signed


def render(template: str, **context: object) -> str:
    return _env.get_template(template).render(**context)
