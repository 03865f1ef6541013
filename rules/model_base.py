"""What every rule declares (id, severity, owning team, version) and small shared field types."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

Severity = Literal["critical", "high", "medium", "low"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_table_ref(value: str) -> str:
    system, dot, entity = value.partition(".")
    if not dot or not system or not entity:
        raise ValueError(f"{value!r} must be written as system.entity, for example erp.item")
    return value


def _seconds(value: Any) -> Any:
    """`90s`, `15m`, `36h`, `2d`, `1w`, or a number of seconds."""
    if isinstance(value, str):
        found = _DURATION.match(value)
        if not found:
            raise ValueError(
                f"{value!r} is not a duration; write a number and a unit s, m, h, d or w, "
                "for example 36h or 2d"
            )
        return float(found[1]) * _UNITS[found[2]]
    return value


def duration_text(seconds: float) -> str:
    """86400 as `1d`, 5400 as `90m`: the largest unit that divides the duration."""
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


# A length of time, held in seconds; never negative.
Duration = Annotated[float, BeforeValidator(_seconds), Field(ge=0)]


class RuleBase(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    description: str = ""
    severity: Severity = "medium"
    # The team that acts on the rule's findings, and the rule's revision; findings carry both.
    owner_team: str | None = None
    version: int = Field(1, ge=1)


def _each_once(columns: list[str]) -> list[str]:
    repeated = list(dict.fromkeys(c for c in columns if columns.count(c) > 1))
    if repeated:
        raise ValueError(f"names {', '.join(repeated)} twice; name each column once")
    return columns


# Columns naming a row or a group: at least one, none twice.
Columns = Annotated[list[str], Field(min_length=1), AfterValidator(_each_once)]
