"""A rule in words: what it checks and what each of its findings means, for `rules explain`."""

from __future__ import annotations

from .model import (
    AcceptedValues,
    AggregateRule,
    AnyCheck,
    AnyRule,
    DuplicatesRule,
    Expression,
    FieldCompare,
    Freshness,
    Length,
    MatchRule,
    NotNull,
    Pattern,
    Range,
    Reference,
    RowCount,
    SequenceRule,
    Unique,
    ValidateRule,
)
from .model_base import duration_text


def explain(rule: AnyRule) -> list[str]:
    """Sentences saying what the rule checks, one finding kind per sentence after the first."""
    if isinstance(rule, ValidateRule):
        return _validate(rule)
    if isinstance(rule, MatchRule):
        return _match(rule)
    if isinstance(rule, AggregateRule):
        return _aggregate(rule)
    if isinstance(rule, DuplicatesRule):
        return _duplicates(rule)
    return _sequence(rule)


def _validate(rule: ValidateRule) -> list[str]:
    scope = f" where {rule.filter}" if rule.filter else ""
    named = ", ".join(rule.key) if rule.key else "its first column"
    lines = [f"Checks each row of {rule.table}{scope}, naming rows by {named}:"]
    lines += [f"- {_check(check)}" for check in rule.checks]
    return lines


def _check(check: AnyCheck) -> str:
    if isinstance(check, NotNull):
        return f"{check.column} has a value (not_null)."
    if isinstance(check, Unique):
        return f"{' + '.join(check.columns)} is unique; NULLs are left to not_null (unique)."
    if isinstance(check, AcceptedValues):
        shown = ", ".join(str(value) for value in check.values[:10])
        more = f" and {len(check.values) - 10} more" if len(check.values) > 10 else ""
        return f"{check.column} is one of {shown}{more} (accepted_values)."
    if isinstance(check, Range):
        bounds = []
        if check.min is not None:
            bounds.append(f"{'above' if check.exclusive_min else 'at least'} {check.min:g}")
        if check.max is not None:
            bounds.append(f"{'below' if check.exclusive_max else 'at most'} {check.max:g}")
        return f"{check.column} is {' and '.join(bounds)} (range)."
    if isinstance(check, Length):
        bounds = [f"at least {check.min}"] if check.min is not None else []
        bounds += [f"at most {check.max}"] if check.max is not None else []
        return f"{check.column} is {' and '.join(bounds)} characters long (length)."
    if isinstance(check, Pattern):
        return f"{check.column} matches the regular expression {check.regex} (pattern)."
    if isinstance(check, Reference):
        target = check.to_column or check.column
        return f"{check.column} is a known {target} of {check.to} (reference)."
    if isinstance(check, Freshness):
        per = f" for each {', '.join(check.by)}" if check.by else ""
        return (
            f"the newest {check.column}{per} is at most {duration_text(check.max_age)} "
            "before the period end (freshness)."
        )
    if isinstance(check, RowCount):
        bounds = [f"at least {check.min}"] if check.min is not None else []
        bounds += [f"at most {check.max}"] if check.max is not None else []
        return f"the table has {' and '.join(bounds)} rows (row_count)."
    if isinstance(check, Expression):
        return f"{check.predicate} holds; NULL counts as failing ({check.name})."
    return check.check


def _match(rule: MatchRule) -> list[str]:
    first, second = rule.systems
    steps = _steps(rule)
    lines = [
        f"Joins {rule.entity} records of {first} and {second} by {', '.join(rule.key)}"
        f"{steps}, each key part compared in its own type; a NULL part matches nothing.",
        "- duplicate_key_in_<system>: a key on several records of one system; none of them is "
        "compared.",
        f"- missing_in_{second} / missing_in_{first}: a record in one system only.",
    ]
    if rule.fields:
        lines.append("- drift: a field differs, judged against the field's owner:")
        lines += [f"  - {_compare(compare)}" for compare in rule.fields]
    if rule.money_field:
        lines.append(f"Money at risk is the {rule.money_field} involved.")
    return lines


def _steps(rule: MatchRule) -> str:
    if not rule.normalise:
        return ""
    if isinstance(rule.normalise, dict):
        parts = [f"{column}: {', '.join(steps)}" for column, steps in rule.normalise.items()]
        return f" (normalised {'; '.join(parts)})"
    return f" (normalised: {', '.join(rule.normalise)})"


def _compare(compare: FieldCompare) -> str:
    mapped = ""
    if compare.map:
        mapped = "; values mapped first: " + "; ".join(
            f"{system} " + ", ".join(f"{a}={b}" for a, b in values.items())
            for system, values in compare.map.items()
        )
    if compare.compare == "text":
        return f"{compare.name} as text, ignoring case and whitespace{mapped}."
    if compare.compare == "numeric":
        within = []
        if compare.abs_tol:
            within.append(f"{compare.abs_tol:g}")
        if compare.rel_tol:
            within.append(f"{compare.rel_tol * 100:g} % of the larger value")
        tolerance = f", equal within {' or '.join(within)}" if within else ", exactly"
        return f"{compare.name} as exact decimals{tolerance}{mapped}."
    if compare.compare == "time":
        window = compare.window_seconds or 0
        return f"{compare.name} as instants, equal within {duration_text(window)}{mapped}."
    return f"{compare.name} exactly; NULL equals NULL{mapped}."


def _aggregate(rule: AggregateRule) -> list[str]:
    what = "amounts" if rule.money else "quantities"
    lines = [
        f"Sums {rule.left.measure} of {rule.left.table} per {', '.join(rule.left.by)} and "
        f"{rule.right.measure} of {rule.right.table} per {', '.join(rule.right.by)}, "
        f"and compares the {what} group by group."
    ]
    within = []
    if rule.abs_tol:
        within.append(f"{rule.abs_tol:g}")
    if rule.rel_tol:
        within.append(f"{rule.rel_tol * 100:g} % of the larger total")
    tolerance = f" beyond {' or '.join(within)}" if within else ""
    expectations = {
        "equal": f"- total_mismatch: the totals differ{tolerance}.",
        "left_at_least": f"- total_mismatch: the right total exceeds the left one{tolerance}.",
        "right_at_least": f"- total_mismatch: the left total exceeds the right one{tolerance}.",
        "presence": "Totals are not compared; only groups on one side are findings.",
    }
    lines.append(expectations[rule.expect])
    for side, other in (("left", "right"), ("right", "left")):
        declared, counterpart = getattr(rule, side), getattr(rule, other)
        if declared.required:
            compared = "whatever its total" if rule.expect == "presence" else "total against zero"
            lines.append(
                f"- {_missing(rule, side)}: a group of {counterpart.table} with none in "
                f"{declared.table} ({compared})."
            )
        if declared.filter:
            lines.append(f"The {side} side counts only rows where {declared.filter}.")
        if declared.join is not None:
            unmatched = (
                "reported (unmatched_join)"
                if declared.join.unmatched == "finding"
                else "left out silently"
            )
            lines.append(
                f"The {side} side reads {declared.join.table} by {', '.join(declared.join.on)}; "
                f"rows finding nothing to join are {unmatched}, keys joining twice are "
                "ambiguous_join."
            )
    return lines


def _missing(rule: AggregateRule, side: str) -> str:
    """The problem code of a group missing on `side`, as the compiler names it."""
    declared, other = getattr(rule, side), getattr(rule, "right" if side == "left" else "left")
    system, _, entity = declared.table.partition(".")
    return f"no_{entity}" if system == other.table.partition(".")[0] else f"missing_in_{system}"


def _duplicates(rule: DuplicatesRule) -> list[str]:
    lines = [
        f"Looks for one thing recorded twice in {rule.table}:",
        f"- duplicate_key: {', '.join(rule.key)} on more than one record.",
    ]
    if rule.money_field is not None:
        lines.append(
            f"  Money at risk: the {rule.money_field} of every record of the key but its largest."
        )
    if rule.near is not None:
        near = rule.near
        blocks = " or ".join("+".join(block) for block in near.blocking_keys())
        lines.append(
            f"- near_duplicate: records agreeing on {blocks} (letters and digits only) whose "
            f"{near.compare} is at least {near.threshold:g} alike by {near.similarity} "
            "(lower case, punctuation and extra spaces removed); alike records join into "
            "clusters, one finding per cluster."
        )
    return lines


def _sequence(rule: SequenceRule) -> list[str]:
    lines = [
        f"Reads the records of {rule.table} for each {', '.join(rule.key)} in {rule.order_by} "
        f"order and checks {rule.status}:"
    ]
    if rule.lifecycle:
        lines.append(
            f"- status_regression: a status below one reached before, in the lifecycle "
            f"{' > '.join(rule.lifecycle)}."
        )
    if rule.transitions is not None:
        moves = "; ".join(
            f"{status} to {', '.join(targets) or 'nothing'}"
            for status, targets in rule.transitions.items()
        )
        lines.append(f"- forbidden_transition: a move other than {moves}.")
    if rule.lifecycle or rule.transitions is not None:
        lines.append("- unknown_status: a status the rule does not name.")
    if rule.stale_by:
        lines.append(
            f"- stale_update: a record with a lower {rule.stale_by} than one applied before it."
        )
    for status, needed in rule.requires.items():
        lines.append(f"- missing_milestone: {status} with no {' or '.join(needed)} before it.")
    moment = rule.time or rule.order_by
    for deadline in rule.deadlines:
        lines.append(
            f"- late_milestone: no {deadline.expect} within {duration_text(deadline.within)} "
            f"of {deadline.after} (by {moment}), judged at the period end."
        )
    lines.append("Each finding is the first of its kind for the key.")
    return lines
