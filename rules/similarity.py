"""Jaro-Winkler similarity for backends without it: Spark gets the algorithm itself, written
with its higher-order array functions, so near duplicates score alike on every backend.

DuckDB's `jaro_winkler_similarity` is the reference: the match window is half the longer
string less one, each character of the first string takes the first unmatched equal one of
the second within the window, half the out-of-order matches are transpositions, and a common
prefix of up to four characters lifts a score above 0.7 by a tenth per character.
"""

from __future__ import annotations

from functools import cache

import sqlglot
from sqlglot import exp

# Backends the similarity is written for: natively in DuckDB, as the algorithm in Spark.
JARO_WINKLER_DIALECTS = ("duckdb", "spark")

# The algorithm over the placeholders `first` and `second`, in Spark SQL; `lo` and `hi` bound
# the window the i-th character may match in. A one-element `aggregate` binds a value to a
# name, since Spark SQL has no `let`.
_SPARK_JARO_WINKLER = """
aggregate(
  array(aggregate(
    sequence(1, length(first)),
    named_struct(
      'used', array_repeat(false, length(second)),
      'chars', CAST(array() AS ARRAY<STRING>)
    ),
    (acc, i) -> aggregate(
      array(array_min(filter(
        IF(lo <= hi, sequence(CAST(lo AS INT), CAST(hi AS INT)), CAST(array() AS ARRAY<INT>)),
        k -> NOT element_at(acc.used, k) AND substring(second, k, 1) = substring(first, i, 1)
      ))),
      acc,
      (state, j) -> IF(
        j IS NULL,
        state,
        named_struct(
          'used', transform(state.used, (u, k) -> u OR k + 1 = j),
          'chars', concat(state.chars, array(substring(first, i, 1)))
        )
      )
    )
  )),
  CAST(0.0 AS DOUBLE),
  (score, found) -> aggregate(
    array(named_struct(
      'm', size(found.chars),
      't', CAST(size(filter(
        sequence(1, greatest(size(found.chars), 1)),
        k -> k <= size(found.chars) AND element_at(found.chars, k) != element_at(
          filter(
            transform(
              sequence(1, length(second)),
              p -> IF(element_at(found.used, p), substring(second, p, 1), NULL)
            ),
            c -> c IS NOT NULL
          ),
          k
        )
      )) DIV 2 AS INT),
      'prefix', coalesce(
        nullif(array_position(
          transform(sequence(1, least(4, length(first), length(second))),
                    k -> substring(first, k, 1) = substring(second, k, 1)),
          false
        ), 0) - 1,
        least(4, length(first), length(second))
      )
    )),
    CAST(0.0 AS DOUBLE),
    (ignored, s) -> aggregate(
      array(IF(
        s.m = 0,
        CAST(0.0 AS DOUBLE),
        (CAST(s.m AS DOUBLE) / length(first) + CAST(s.m AS DOUBLE) / length(second)
          + CAST(s.m - s.t AS DOUBLE) / s.m) / CAST(3.0 AS DOUBLE)
      )),
      CAST(0.0 AS DOUBLE),
      (unused, jaro) -> IF(
        jaro > 0.7, jaro + s.prefix * CAST(0.1 AS DOUBLE) * (CAST(1.0 AS DOUBLE) - jaro), jaro
      )
    )
  )
)
"""
# The window: half the longer string less one, and the positions of the second string it
# spans around position i of the first.
_PLACES = {
    "lo": "greatest(1, i - reach)",
    "hi": "least(length(second), i + reach)",
    "reach": "greatest(floor(greatest(length(first), length(second)) / 2) - 1, 0)",
}


def jaro_winkler(first: exp.Expression, second: exp.Expression, dialect: str) -> exp.Expression:
    """The Jaro-Winkler similarity of two texts, 0 to 1, in `dialect`."""
    if dialect == "duckdb":
        return exp.Anonymous(this="jaro_winkler_similarity", expressions=[first, second])
    if dialect == "spark":
        values = {"first": first, "second": second}
        return _spark_template().transform(
            lambda node: (
                values[node.name].copy()
                if isinstance(node, exp.Column) and node.name in values and not node.table
                else node
            )
        )
    # Postgres and Snowflake would need the algorithm in their own array functions; the
    # compiler refuses the rule for them first, naming the rule.
    raise NotImplementedError(
        f"Jaro-Winkler similarity is not written for {dialect}; only for "
        + ", ".join(JARO_WINKLER_DIALECTS)
        + "."
    )


@cache
def _spark_template() -> exp.Expression:
    tree = sqlglot.parse_one(_SPARK_JARO_WINKLER, read="spark")
    for place, text in _PLACES.items():
        value = sqlglot.parse_one(text, read="spark")
        tree = tree.transform(
            lambda node, place=place, value=value: (
                value.copy()
                if isinstance(node, exp.Column) and node.name == place and not node.table
                else node
            )
        )
    return tree
