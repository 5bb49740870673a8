"""A GX suite's row-level expectations as DuckDB predicates, so the gate hands GX only the rows that
can fail: SQL flags a superset of the rows GX would report, GX judges the flagged rows.

Each predicate is true for every row GX's pandas engine reports unexpected for that expectation
(a few more are harmless: GX has the last word on every flagged row). Pandas semantics matter:
a DOUBLE NaN counts as missing (GX skips missing values in column map expectations), and a
compound key ignores a row only when all its values are missing (GX's default ignore_row_if).
A suite with an expectation, an argument or a column type this module does not know has no
predicates (`None`): the caller validates every row in GX, as before.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

# Table-level expectations: judged by GX on the real columns and the real row count, never on rows.
TABLE_LEVEL = {"expect_table_columns_to_match_set", "expect_table_row_count_to_be_between"}
_FLOAT = {"FLOAT", "DOUBLE", "REAL", "FLOAT4", "FLOAT8"}
_INTEGER = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"}
# The arguments each compiled expectation may carry; any other (mostly, row_condition, ...) means
# GX sees every row.
_KWARGS = {
    "expect_column_values_to_be_null": {"column"},
    "expect_column_values_to_not_be_null": {"column"},
    "expect_column_values_to_be_in_set": {"column", "value_set"},
    "expect_column_values_to_be_between": {"column", "min_value", "max_value", "strict_min", "strict_max"},
    "expect_column_values_to_be_unique": {"column"},
    "expect_compound_columns_to_be_unique": {"column_list", "ignore_row_if"},
}


def row_predicates(suite: Mapping[str, Any], column_types: Mapping[str, str], relation: str) -> list[str] | None:
    """One SQL predicate per row-level expectation of the suite over `relation` (whose columns have
    `column_types`), or None when any expectation cannot be compiled. A uniqueness is a semi join
    on the keys held more than once (a hash aggregate, cheaper than a window over every row)."""
    predicates = []
    for expectation in suite["expectations"]:
        kind, kwargs = expectation["type"], expectation.get("kwargs", {})
        if kind in TABLE_LEVEL:
            continue
        if kind not in _KWARGS or set(kwargs) - _KWARGS[kind]:
            return None
        predicate = _predicate(kind, kwargs, column_types, relation)
        if predicate is None:
            return None
        predicates.append(f"coalesce({predicate}, false)")
    return predicates


def _predicate(kind: str, kwargs: Mapping[str, Any], types: Mapping[str, str], relation: str) -> str | None:
    columns = kwargs.get("column_list") or [kwargs.get("column")]
    if any(column not in types for column in columns):
        return None  # GX reports the missing column; let it see the whole table
    if kind == "expect_compound_columns_to_be_unique":
        if kwargs.get("ignore_row_if", "all_values_are_missing") != "all_values_are_missing":
            return None
        values = [_value(column, types[column]) for column in columns]
        all_missing = " AND ".join(f"{value} IS NULL" for value in values)
        # a row() of keys compares missing fields as equal, as pandas' duplicated() does
        key = f"row({', '.join(values)})"
        return f"NOT ({all_missing}) AND {key} IN ({_repeated(key, relation)})"
    column = kwargs["column"]
    value = _value(column, types[column])
    if kind == "expect_column_values_to_be_null":
        return f"{value} IS NOT NULL"
    if kind == "expect_column_values_to_not_be_null":
        return f"{value} IS NULL"
    if kind == "expect_column_values_to_be_unique":
        return f"{value} IS NOT NULL AND {value} IN ({_repeated(value, relation)})"
    if kind == "expect_column_values_to_be_in_set":
        literals = _literals(kwargs.get("value_set"), types[column])
        return None if literals is None else f"{value} NOT IN ({literals})"
    return _between(value, types[column], kwargs)


def _repeated(key: str, relation: str) -> str:
    return f"SELECT {key} FROM {relation} GROUP BY ALL HAVING count(*) > 1"


def _value(column: str, sql_type: str) -> str:
    """The column as pandas sees it: NaN is missing."""
    quoted = '"' + column.replace('"', '""') + '"'
    return f"(CASE WHEN isnan({quoted}) THEN NULL ELSE {quoted} END)" if sql_type in _FLOAT else quoted


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _numeric(sql_type: str) -> bool:
    return sql_type in _FLOAT or sql_type in _INTEGER or sql_type.startswith("DECIMAL")


def _literals(values: Any, sql_type: str) -> str | None:
    """The value set as SQL literals of the column's kind, or None (e.g. numbers for a text column)."""
    if not isinstance(values, list) or not values:
        return None
    if sql_type == "VARCHAR" and all(isinstance(v, str) for v in values):
        return ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    if _numeric(sql_type) and all(_is_number(v) for v in values):
        return ", ".join(repr(float(v)) for v in values)
    return None


def _between(value: str, sql_type: str, kwargs: Mapping[str, Any]) -> str | None:
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if not _numeric(sql_type) or (low is None and high is None):
        return None
    if any(bound is not None and not _is_number(bound) for bound in (low, high)):
        return None
    if low is not None and high is not None and low > high:
        return None  # GX reports the expectation as broken; let it
    within = []
    if low is not None:
        within.append(f"{value} {'>' if kwargs.get('strict_min') else '>='} {float(low)!r}")
    if high is not None:
        within.append(f"{value} {'<' if kwargs.get('strict_max') else '<='} {float(high)!r}")
    return f"NOT ({' AND '.join(within)})"
