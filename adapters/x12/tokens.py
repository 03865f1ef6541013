"""Splits X12 text into segments, with the delimiters each ISA header declares.

pyx12 (the maintained Python X12 library) was tried first and does not fit: its
reader insists on a fixed 106-character ISA, accepts only versions 00401 and
00501, and stops at the first blank line, so it refuses real files that trading
partners send (a 16-character ISA06, ISA12 `00200`, `~` plus blank lines between
segments). This tokeniser reads the ISA by its element separator instead of by
position, and keeps its checks as findings rather than refusals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from tallyclerk.errors import SourceError

from ..base import SourceIssue

# The width of each ISA element, ISA01 to ISA16, as the standard fixes it.
ISA_WIDTHS = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1)
_LINE_BREAKS = "\r\n"
_LAYOUT = " \t\r\n\ufeff"


@dataclass(frozen=True)
class Delimiters:
    element: str
    component: str
    segment: str


class Segment(NamedTuple):
    """One segment: its position in the file (the first ISA is 1) and its elements."""

    number: int
    line: int
    tag: str
    elements: tuple[str, ...]

    def get(self, position: int) -> str:
        """Element `position` (1-based, as X12 numbers them), stripped; '' when absent."""
        if 0 < position <= len(self.elements):
            return self.elements[position - 1].strip()
        return ""


@dataclass
class Tokens:
    """The segments of a file, and the layout issues met on the way."""

    segments: list[Segment] = field(default_factory=list)
    issues: list[SourceIssue] = field(default_factory=list)


def tokenise(text: str, *, where: str) -> Tokens:
    """All segments of all interchanges in `text`; `where` names the file for errors."""
    tokens, lines = Tokens(), _Lines(text)
    position = _skip_layout(text, 0)
    if text[position : position + 3] != "ISA":
        start = text[position : position + 12]
        raise SourceError(
            f"{where}: not an X12 interchange: the file starts with {start!r} where ISA is "
            "expected. Check that the file is EDI X12 (EDIFACT starts with UNA or UNB)."
        )
    while position < len(text):
        if text[position : position + 3] != "ISA":
            number = len(tokens.segments) + 1
            raise SourceError(
                f"{where}: segment {number} (line {lines.at(position)}): expected ISA "
                f"after the IEA of the previous interchange, found "
                f"{text[position : position + 12]!r}."
            )
        position = _read_interchange(text, position, tokens, lines, where=where)
        position = _skip_layout(text, position)
    return tokens


def _read_interchange(text: str, start: int, tokens: Tokens, lines: _Lines, *, where: str) -> int:
    """Read one ISA ... IEA; return the position after the IEA's terminator."""
    delimiters, isa, after_isa = _read_isa(text, start, len(tokens.segments) + 1, where=where)
    number = len(tokens.segments) + 1
    tokens.segments.append(Segment(number, lines.at(start), "ISA", tuple(isa)))
    _check_isa_layout(isa, number, tokens, where=where)

    position, mixed = after_isa, False
    terminator, separator = delimiters.segment, delimiters.element
    breaks_are_layout = terminator not in _LINE_BREAKS
    line = lines.at(position)
    segments = tokens.segments
    while True:
        end = text.find(terminator, position)
        end = len(text) if end < 0 else end
        raw = text[position:end]
        body = raw.lstrip(_LAYOUT)
        if not body:
            if end >= len(text):
                raise SourceError(
                    f"{where}: the file ends after segment {len(segments)} without an IEA: "
                    f"the interchange that starts at segment {number} is truncated. "
                    "Ask the sender to transmit it again."
                )
            line += text.count("\n", position, end + 1)
            position = end + 1
            continue
        start_line = line + raw.count("\n", 0, len(raw) - len(body))
        pieces = [(0, body)]
        if breaks_are_layout and ("\n" in body or "\r" in body):
            # Line breaks are never data in X12: a segment holding one was ended by
            # another terminator (`~` in the files seen) that the ISA did not declare.
            split = [
                (n, p.strip(_LAYOUT).removesuffix("~")) for n, p in enumerate(body.splitlines())
            ]
            pieces = [(n, p) for n, p in split if p]
            mixed = mixed or len(pieces) > 1
        for offset, piece in pieces:
            elements = piece.rstrip(_LINE_BREAKS).split(separator)
            segments.append(
                Segment(len(segments) + 1, start_line + offset, elements[0], tuple(elements[1:]))
            )
        line += text.count("\n", position, end + 1)
        position = end + 1
        if segments[-1].tag == "IEA":
            break
    if mixed:
        tokens.issues.append(
            SourceIssue(
                problem="mixed_segment_terminators",
                where=f"{where}, interchange at segment {number}",
                message=(
                    f"{where}: the interchange at segment {number} declares "
                    f"{delimiters.segment!r} as segment terminator but also ends segments "
                    "with a line break; they were read as separate segments."
                ),
                severity="low",
            )
        )
    return position


def _read_isa(text: str, start: int, number: int, *, where: str) -> tuple[Delimiters, list, int]:
    """The ISA's 16 elements and the delimiters they declare, read by separator."""
    element = text[start + 3 : start + 4]
    if not element or element.isalnum() or element in _LAYOUT:
        raise SourceError(
            f"{where}: segment {number}: the ISA has no valid "
            f"element separator after 'ISA' (found {element!r}); the header is malformed."
        )
    elements: list[str] = []
    position = start + 4
    for _ in range(15):
        end = text.find(element, position)
        if end < 0:
            raise SourceError(
                f"{where}: segment {number}: the ISA ends after {len(elements)} of its 16 "
                "elements; the file is truncated or the header is malformed."
            )
        elements.append(text[position:end])
        position = end + 1
    component, segment = text[position : position + 1], text[position + 1 : position + 2]
    if not component or not segment or len({element, component, segment}) < 3:
        raise SourceError(
            f"{where}: segment {number}: the ISA declares element separator {element!r}, "
            f"component separator {component!r} and segment terminator {segment!r}; "
            "they must be three different characters."
        )
    elements.append(component)
    return Delimiters(element, component, segment), elements, position + 2


def _check_isa_layout(isa: list[str], number: int, tokens: Tokens, *, where: str) -> None:
    wrong = [
        f"ISA{index:02d} is {len(value)} characters, not {width}"
        for index, (value, width) in enumerate(zip(isa, ISA_WIDTHS, strict=True), start=1)
        if len(value) != width
    ]
    if wrong:
        tokens.issues.append(
            SourceIssue(
                problem="isa_layout",
                where=f"{where}, segment {number}",
                message=f"{where}, segment {number}: {'; '.join(wrong)} (read anyway).",
                field="ISA",
                severity="low",
            )
        )


def _skip_layout(text: str, position: int) -> int:
    while position < len(text) and text[position] in _LAYOUT:
        position += 1
    return position


class _Lines:
    """Line numbers of positions asked for in increasing order, counted once."""

    def __init__(self, text: str) -> None:
        self._text, self._position, self._line = text, 0, 1

    def at(self, position: int) -> int:
        if position < self._position:
            return self._text.count("\n", 0, position) + 1
        self._line += self._text.count("\n", self._position, position)
        self._position = position
        return self._line
