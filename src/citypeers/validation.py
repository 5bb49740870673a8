"""The one Great Expectations runner: load a suite from expectations/, validate, record, decide.

Each expectation in a suite JSON carries `meta.on_failure`:
- `quarantine`: rows that fail it are set aside with the reason; the rest go on;
- `fail` (the default): the data broke its contract; the caller publishes nothing.
A `quarantine` expectation may say its reason in words (`meta.quarantine_reason`, e.g. "duplicate
practice_id ..."); otherwise the reason is the expectation and its column.

GX validates pandas DataFrames read by DuckDB (GX's SQL datasource on DuckDB is broken, see
STACK.md); the ingest gate passes only the rows its suite's SQL predicates flag (citypeers.suite_sql).
GX is imported inside functions so that importing this module stays cheap.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from citypeers import paths


@dataclass
class FailedExpectation:
    """One expectation that did not hold, said so a person can act on it."""

    suite: str
    expectation: str
    column: str | None
    on_failure: str
    unexpected_count: int
    examples: list[Any]
    row_indexes: list[int] = field(default_factory=list, repr=False)
    quarantine_reason: str | None = None
    position: int = field(default=0, repr=False)  # where GX lists it among a chunk's results

    def describe(self) -> str:
        where = f"column '{self.column}'" if self.column else "the table"
        examples = ", ".join(repr(e) for e in self.examples[:3])
        shown = f"; e.g. {examples}" if examples else ""
        return f"{self.expectation} on {where}: {self.unexpected_count} unexpected{shown}"


@dataclass
class ValidationOutcome:
    suite: str
    row_count: int
    failures: list[FailedExpectation]
    results_file: Path
    gx_rows: int = 0  # rows GX validated: row_count, or only the flagged ones (suite_sql)

    @property
    def contract_failures(self) -> list[FailedExpectation]:
        return [f for f in self.failures if f.on_failure == "fail"]

    def quarantine_reasons(self) -> dict[int, str]:
        """Row index -> reason, for rows that failed a `quarantine` expectation."""
        reasons: dict[int, list[str]] = {}
        for failure in self.failures:
            if failure.on_failure != "quarantine":
                continue
            label = failure.quarantine_reason or (
                f"{failure.expectation}({failure.column})" if failure.column else failure.expectation)
            for index in failure.row_indexes:
                reasons.setdefault(index, []).append(label)
        return {index: "; ".join(labels) for index, labels in reasons.items()}


def load_suite(suite_name: str) -> dict[str, Any]:
    suite_file = paths.expectations_dir() / f"{suite_name}.json"
    return json.loads(suite_file.read_text(encoding="utf-8"))


def _import_gx():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations

    return great_expectations


def import_gx_in_background() -> None:
    """Start importing GX (about 4 s of single-threaded Python) in a thread, so that it overlaps a
    caller's DuckDB queries (which release the GIL); `_context` then finds it imported, or waits for
    the import to finish (Python's import lock)."""
    import sys
    import threading

    import pandas  # noqa: F401  # imported here first, so the two threads never import the same module at once

    if "great_expectations" not in sys.modules:
        threading.Thread(target=_import_gx, name="import-great-expectations", daemon=True).start()


def _context():
    gx = _import_gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    for name in list(logging.root.manager.loggerDict):
        if name.startswith("great_expectations"):
            logging.getLogger(name).setLevel(logging.WARNING)

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return gx, context


def validate_frame(frame, suite_name: str, *, run_label: str) -> ValidationOutcome:
    """Validate a pandas DataFrame against `expectations/<suite_name>.json` and record the result."""
    return validate_frames([frame], suite_name, run_label=run_label)


def validate_frames(frames: Iterable, suite_name: str, *, run_label: str,
                    table_rows: int | None = None) -> ValidationOutcome:
    """Validate one table given as several pandas DataFrames (chunks read one at a time, so memory
    stays bounded) and record one result for the whole table.

    Each chunk is validated on its own, so a caller that splits a table must keep together the rows
    an expectation compares (the rows of one key for a compound uniqueness) and must not pass an
    empty chunk unless the table is empty. Row indexes in the outcome are the frames' own index
    values, so chunks should carry a table-wide row number as their index.

    `table_rows`, when given, says the frames are only some of the table's rows (those a SQL
    predicate flagged, see citypeers.suite_sql): the row-count expectations are then judged by GX
    on a column-less frame of `table_rows` rows, never on the frames, and the record gives the
    table's row count with the rows GX saw beside it.
    """
    gx, context = _context()
    spec = load_suite(suite_name)
    counts = [e for e in spec["expectations"] if e["type"] == "expect_table_row_count_to_be_between"]
    on_rows = spec["expectations"] if table_rows is None else [e for e in spec["expectations"] if e not in counts]
    suite = context.suites.add(gx.ExpectationSuite(name=spec["name"], expectations=on_rows))
    batch_definition = (
        context.data_sources.add_pandas("citypeers")
        .add_dataframe_asset(suite_name)
        .add_batch_definition_whole_dataframe("whole_frame")
    )
    failures: dict[tuple[str, str], FailedExpectation] = {}
    raw_results, gx_rows = [], 0

    def run(frame, expectation_suite, first_position: int = 0) -> None:
        batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(expectation_suite,
                                result_format={"result_format": "COMPLETE", "partial_unexpected_count": 5})
        for position, item in enumerate(result.results):
            if not item.success:
                _add_failure(failures, suite_name, item, first_position + position)
        raw_results.append(_without_row_lists(result.to_json_dict()))

    for frame in frames:
        gx_rows += len(frame)
        run(frame, suite)
    if table_rows is not None and counts:
        import pandas as pd

        count_suite = context.suites.add(gx.ExpectationSuite(name=f"{spec['name']}__row_count", expectations=counts))
        run(pd.DataFrame(index=pd.RangeIndex(table_rows)), count_suite, len(on_rows))
    row_count = gx_rows if table_rows is None else table_rows
    # In the order GX lists its results (as one chunk would give them), whichever chunk failed first:
    # a row's reasons read the same however the table was split.
    outcome_failures = sorted(failures.values(), key=lambda failure: failure.position)
    results_file = _record(suite_name, run_label, row_count, raw_results, outcome_failures, gx_rows=gx_rows)
    return ValidationOutcome(suite_name, row_count, outcome_failures, results_file, gx_rows=gx_rows)


def _add_failure(failures: dict[tuple[str, str], FailedExpectation], suite_name: str, item, position: int) -> None:
    """Fold one failed expectation of one chunk into the table's failures."""
    config = item.expectation_config
    details = item.result or {}
    column = config.kwargs.get("column") or ",".join(config.kwargs.get("column_list") or []) or None
    key = (config.id or config.type, str(column))
    failure = failures.setdefault(key, FailedExpectation(
        suite=suite_name, expectation=config.type, column=column,
        on_failure=(config.meta or {}).get("on_failure", "fail"), unexpected_count=0, examples=[],
        quarantine_reason=(config.meta or {}).get("quarantine_reason"), position=position,
    ))
    failure.position = min(failure.position, position)
    failure.unexpected_count += int(details.get("unexpected_count") or 0)
    examples = details.get("partial_unexpected_list") or [details.get("observed_value")]
    failure.examples.extend(examples[: max(0, 5 - len(failure.examples))])
    failure.row_indexes.extend(int(i) for i in details.get("unexpected_index_list") or [])


def _without_row_lists(raw: dict) -> dict:
    """A GX result without its per-row lists: they can be millions long, the quarantine files hold
    the rows."""
    for item in raw.get("results", []):
        item.get("result", {}).pop("unexpected_index_list", None)
        item.get("result", {}).pop("unexpected_list", None)
    return raw


def _record(suite_name: str, run_label: str, row_count: int, raw_results: list[dict], failures, *,
            gx_rows: int) -> Path:
    """Keep the GX results (one per chunk) and a one-line summary per run under validation/<suite>/.
    `row_count` is the table's; `gx_rows` the rows GX saw (fewer when SQL proved the others clean,
    so a GX result's element_count is that of its chunk, not of the table)."""
    folder = paths.validation_dir(suite_name)
    folder.mkdir(parents=True, exist_ok=True)
    summary = {
        "suite": suite_name,
        "run": run_label,
        "validated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "row_count": row_count,
        "gx_rows": gx_rows,
        "success": not failures,
        "failures": [
            {"expectation": f.expectation, "column": f.column, "on_failure": f.on_failure,
             "unexpected_count": f.unexpected_count, "examples": [str(e) for e in f.examples[:5]]}
            for f in failures
        ],
    }
    target = folder / f"{run_label}.json"
    document = {"summary": summary, "result": raw_results[0]} if len(raw_results) == 1 else \
        {"summary": summary, "chunk_results": raw_results}
    target.write_text(json.dumps(document, indent=1, default=str), encoding="utf-8")
    _record_run_row(summary, failures)
    return target


RUN_COLUMNS = """
    suite varchar, run_label varchar, validated_at timestamp, row_count bigint, success boolean,
    failed_expectations integer, failures varchar
"""


def runs_dir():
    """One-row Parquet files, one per validation, that dbt reads into `fct_validation_runs`."""
    return paths.home() / "validation" / "runs"


def ensure_runs_schema_file() -> None:
    """A zero-row file so the warehouse's validation history is readable before any run."""
    target = runs_dir() / "_schema.parquet"
    if not target.exists():
        import duckdb

        target.parent.mkdir(parents=True, exist_ok=True)
        with duckdb.connect() as con:
            con.execute(f"create table runs ({RUN_COLUMNS})")
            con.execute(f"copy runs to '{target}' (format parquet)")


def _record_run_row(summary: dict, failures: list[FailedExpectation]) -> None:
    import duckdb

    target = runs_dir() / f"{summary['suite']}__{summary['run']}.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as con:
        con.execute(f"create table runs ({RUN_COLUMNS})")
        con.execute(
            "insert into runs values (?, ?, ?, ?, ?, ?, ?)",
            [summary["suite"], summary["run"], summary["validated_at"], summary["row_count"], summary["success"],
             len(failures), "; ".join(f.describe() for f in failures) or None],
        )
        con.execute(f"copy runs to '{target}' (format parquet)")
