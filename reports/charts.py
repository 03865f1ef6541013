"""Geometry of the small charts the reports draw as inline SVG.

Only numbers are computed here; the templates write the SVG, so every label
goes through the same escaping as the rest of the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

Number = Decimal | int | float


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    value: Number
    label: str


@dataclass(frozen=True)
class Trend:
    """A line over the last runs, oldest on the left."""

    width: int
    height: int
    points: list[Point]

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)

    @property
    def area(self) -> str:
        """The line closed down to the baseline, for a light fill under it."""
        if not self.points:
            return ""
        first, last = self.points[0], self.points[-1]
        line = " L".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)
        return f"M{first.x:.1f},{self.height} L{line} L{last.x:.1f},{self.height} Z"

    @property
    def last(self) -> Point | None:
        return self.points[-1] if self.points else None


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: Number
    label: str


def trend(
    values: Sequence[Number], labels: Sequence[str], *, width: int = 160, height: int = 36
) -> Trend:
    """Points scaled into the box, with a margin so the end dot is never clipped."""
    margin = 3.0
    if not values:
        return Trend(width, height, [])
    low, high = min(values), max(values)
    spread = float(high - low) or 1.0
    step = (width - 2 * margin) / max(len(values) - 1, 1)
    points = []
    for index, (value, label) in enumerate(zip(values, labels, strict=True)):
        share = float(value - low) / spread if high != low else 0.5
        x = margin + index * step if len(values) > 1 else width / 2
        y = height - margin - share * (height - 2 * margin)
        points.append(Point(x, y, value, label))
    return Trend(width, height, points)


def bars(
    values: Sequence[Number], labels: Sequence[str], *, width: int = 320, height: int = 120
) -> list[Bar]:
    """Columns side by side, scaled to the largest; a zero column keeps a hairline."""
    if not values:
        return []
    top = max(float(v) for v in values) or 1.0
    slot = width / len(values)
    result = []
    for index, (value, label) in enumerate(zip(values, labels, strict=True)):
        tall = max(1.0, float(value) / top * height)
        result.append(
            Bar(index * slot + slot * 0.15, height - tall, slot * 0.7, tall, value, label)
        )
    return result


def share(value: Number, largest: Number) -> float:
    """Percent of the largest value, for the bars beside ranked rows."""
    return round(float(value) / float(largest) * 100, 1) if largest else 0.0
