"""Groups X12 segments into interchanges, functional groups and transaction sets.

Envelope structure that cannot be followed (a segment outside any transaction
set, a set that never ends) is an error. Counts and control numbers that
disagree between header and trailer are findings: the data inside is still read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tallyclerk.errors import SourceError

from ..base import SourceIssue
from .tokens import Segment

# Segments allowed directly inside an interchange, outside any group.
_INTERCHANGE_LEVEL = frozenset({"TA1"})


@dataclass
class TransactionSet:
    code: str
    control: str
    segments: list[Segment]
    group: Group

    @property
    def header(self) -> Segment:
        return self.segments[0]


@dataclass
class Group:
    header: Segment
    interchange: Interchange
    sets: list[TransactionSet] = field(default_factory=list)

    @property
    def date(self) -> str:
        return self.header.get(4)


@dataclass
class Interchange:
    header: Segment
    groups: list[Group] = field(default_factory=list)


@dataclass
class Envelopes:
    interchanges: list[Interchange] = field(default_factory=list)
    issues: list[SourceIssue] = field(default_factory=list)

    @property
    def sets(self) -> list[TransactionSet]:
        return [s for i in self.interchanges for g in i.groups for s in g.sets]


def open_envelopes(segments: list[Segment], *, where: str) -> Envelopes:
    """Nest `segments` into envelopes and check each header against its trailer."""
    found = Envelopes()
    interchange: Interchange | None = None
    group: Group | None = None
    current: TransactionSet | None = None
    for segment in segments:
        tag = segment.tag
        if current is not None:
            current.segments.append(segment)
            if tag == "SE":
                _check_set(current, segment, found, where=where)
                current = None
            elif tag in ("ST", "GE", "IEA", "GS", "ISA"):
                raise _unclosed("transaction set", current.header, segment, where=where)
        elif tag == "ISA" and interchange is not None:
            raise _unclosed("interchange", interchange.header, segment, where=where)
        elif tag == "ISA":
            interchange = Interchange(header=segment)
            found.interchanges.append(interchange)
        elif tag == "GS" and interchange is not None and group is None:
            group = Group(header=segment, interchange=interchange)
            interchange.groups.append(group)
            _check_element_count(segment, 8, found, where=where)
        elif tag == "ST" and group is not None:
            current = TransactionSet(segment.get(1), segment.get(2), [segment], group)
            group.sets.append(current)
        elif tag == "GE" and group is not None:
            _check_trailer(group.header, segment, len(group.sets), "GS06", found, where=where)
            group = None
        elif tag == "IEA" and interchange is not None and group is None:
            count = len(interchange.groups)
            _check_trailer(interchange.header, segment, count, "ISA13", found, where=where)
            interchange = None
        elif tag == "IEA" and group is not None:
            raise _unclosed("functional group", group.header, segment, where=where)
        elif tag in _INTERCHANGE_LEVEL and interchange is not None and group is None:
            continue
        else:
            raise SourceError(
                f"{where}: segment {segment.number} (line {segment.line}): {tag} is outside "
                f"{_expected_container(tag)}; the envelope is malformed. Ask the sender to "
                "check the ISA/GS/ST structure of the interchange."
            )
    return found


def _expected_container(tag: str) -> str:
    if tag == "ST":
        return "any functional group (no GS before it)"
    if tag in ("GS", "GE"):
        return "an interchange, or a GS is missing its GE"
    if tag == "IEA":
        return "any interchange"
    return "any transaction set (no ST before it)"


def _unclosed(what: str, header: Segment, found: Segment, *, where: str) -> SourceError:
    return SourceError(
        f"{where}: segment {found.number} (line {found.line}): {found.tag} comes before the "
        f"{what} opened by {header.tag} at segment {header.number} was closed; the envelope "
        "is malformed or the file was cut. Ask the sender to transmit it again."
    )


def _check_set(current: TransactionSet, trailer: Segment, found: Envelopes, *, where: str) -> None:
    counted = len(current.segments)
    declared = trailer.get(1)
    at = f"{where}, segment {trailer.number}"
    if not declared.isdigit() or int(declared) != counted:
        found.issues.append(
            SourceIssue(
                problem="segment_count_mismatch",
                where=at,
                field="SE01",
                message=(
                    f"{at}: SE01 says {declared or 'nothing'} segments but transaction set "
                    f"{current.control} (ST at segment {current.header.number}) has {counted}."
                ),
            )
        )
    if trailer.get(2) != current.control:
        found.issues.append(
            SourceIssue(
                problem="control_number_mismatch",
                where=at,
                field="SE02",
                message=(
                    f"{at}: SE02 {trailer.get(2)!r} does not match ST02 {current.control!r} "
                    f"of the transaction set at segment {current.header.number}."
                ),
            )
        )


def _check_trailer(
    header: Segment, trailer: Segment, counted: int, control: str, found: Envelopes, *, where: str
) -> None:
    """GE against GS, or IEA against ISA: the count of what they enclose, and the control."""
    inner = "transaction sets" if header.tag == "GS" else "functional groups"
    at = f"{where}, segment {trailer.number}"
    declared = trailer.get(1)
    if not declared.isdigit() or int(declared) != counted:
        found.issues.append(
            SourceIssue(
                problem="count_mismatch",
                where=at,
                field=f"{trailer.tag}01",
                message=(
                    f"{at}: {trailer.tag}01 says {declared or 'nothing'} {inner} but the "
                    f"{header.tag} at segment {header.number} encloses {counted}."
                ),
            )
        )
    opened = header.get(6 if header.tag == "GS" else 13)
    closed = trailer.get(2)
    if not _same_control(opened, closed):
        found.issues.append(
            SourceIssue(
                problem="control_number_mismatch",
                where=at,
                field=f"{trailer.tag}02",
                message=(
                    f"{at}: {trailer.tag}02 {closed!r} does not match {control} {opened!r} "
                    f"of the {header.tag} at segment {header.number}."
                ),
            )
        )


def _same_control(opened: str, closed: str) -> bool:
    """Control numbers agree when equal as numbers: senders drop the zero padding."""
    if opened.isdigit() and closed.isdigit():
        return int(opened) == int(closed)
    return opened == closed


def _check_element_count(segment: Segment, expected: int, found: Envelopes, *, where: str) -> None:
    if len(segment.elements) != expected:
        at = f"{where}, segment {segment.number}"
        found.issues.append(
            SourceIssue(
                problem="malformed_segment",
                where=at,
                field=segment.tag,
                message=(
                    f"{at}: {segment.tag} has {len(segment.elements)} elements, not {expected}; "
                    "its control number and version may be read from the wrong place."
                ),
            )
        )
