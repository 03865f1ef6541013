"""X12 values as canonical text: dates, times with zone codes, implied decimals, loops.

A value that does not convert is passed on as written, so the mapping can
quarantine it with its file and line instead of the reader guessing.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal, InvalidOperation

from .tokens import Segment

# X12 time codes (data element 623) with a fixed offset; LT (local) has none.
_ZONES = {
    "UT": "+00:00",
    "GM": "+00:00",
    "ET": "-05:00",
    "ES": "-05:00",
    "ED": "-04:00",
    "CT": "-06:00",
    "CS": "-06:00",
    "CD": "-05:00",
    "MT": "-07:00",
    "MS": "-07:00",
    "MD": "-06:00",
    "PT": "-08:00",
    "PS": "-08:00",
    "PD": "-07:00",
}
POUNDS_TO_KG = Decimal("0.45359237")


def date_text(value: str) -> str | None:
    """CCYYMMDD, or the older YYMMDD (pivoting at 50), as YYYY-MM-DD."""
    if not value:
        return None
    if len(value) == 6 and value.isdigit():
        century = "20" if int(value[:2]) < 50 else "19"
        value = century + value
    if len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value


def timestamp_text(date: str, time: str = "", zone: str = "") -> str | None:
    """An ISO timestamp from an X12 date, HHMM[SS] time and time code."""
    day = date_text(date)
    if day is None or len(day) != 10:
        return day
    clock = "00:00:00"
    if time.isdigit() and len(time) in (4, 6, 8):
        clock = f"{time[:2]}:{time[2:4]}:{time[4:6] or '00'}"
    return f"{day}T{clock}{_ZONES.get(zone, '')}"


def implied(value: str, decimals: int = 2) -> str | None:
    """An amount of type N2 (`275433` is 2754.33); explicit decimal points are kept."""
    if not value:
        return None
    if "." in value:
        return value
    try:
        return str(Decimal(value).scaleb(-decimals))
    except InvalidOperation:
        return value


def weight_kg(value: str, unit: str) -> str | None:
    """A weight in kilograms from X12 weight unit codes L (pounds) and K (kilograms)."""
    if not value:
        return None
    try:
        amount = Decimal(value)
    except InvalidOperation:
        return value
    if unit.upper() in ("L", "LB"):
        amount *= POUNDS_TO_KG
    return str(amount.quantize(Decimal("0.0001")))


def product(product_segment: Segment, positions: tuple[int, ...]) -> str | None:
    """The first non-empty product id among `positions` of a line item segment."""
    return next((product_segment.get(p) for p in positions if product_segment.get(p)), None)


def line_number(value: str, fallback: int) -> int:
    return int(value) if value.isdigit() else fallback


def loops(segments: list[Segment], starts: str | tuple[str, ...]) -> Iterator[list[Segment]]:
    """The loops of a transaction set that begin at a segment tagged `starts`."""
    tags = (starts,) if isinstance(starts, str) else starts
    current: list[Segment] | None = None
    for segment in segments:
        if segment.tag in tags:
            if current:
                yield current
            current = [segment]
        elif current is not None:
            current.append(segment)
    if current:
        yield current


def first(segments: list[Segment], tag: str, qualifier: str | None = None) -> Segment | None:
    """The first segment tagged `tag` (whose first element is `qualifier`, if given)."""
    for segment in segments:
        if segment.tag == tag and (qualifier is None or segment.get(1) == qualifier):
            return segment
    return None


def element(segment: Segment | None, position: int) -> str | None:
    """Element `position` of a segment that may be missing; None when empty."""
    if segment is None:
        return None
    return segment.get(position) or None
