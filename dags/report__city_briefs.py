"""Airflow DAG `report__city_briefs`: every city's brief (HTML and PDF, English and Spanish) after each publish."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Asset, dag, task

DOC = """
### Report: the city briefs for officials
Runs after every publish of the serving warehouse (Asset `citypeers://warehouse`).
1. `plan_briefs` reads the warehouse (read-only) for the year to brief (its latest year with values)
   and the cities with data (`cities_with_data`);
2. `render_briefs` re-renders the cities whose brief inputs changed since their last brief (a
   fingerprint per city over the warehouse rows its brief reads and the code), in a pool of
   processes (`CITYPEERS_BRIEF_WORKERS`, default the CPU count), into
   `$CITYPEERS_HOME/briefs/<year>/<city>.<lang>.{html,pdf}` in English and Spanish with a status file;
   unchanged cities keep their files; a city that fails does not stop the others; progress in the log
   ("rendered 120 of 1,000 cities, 14 unchanged, 1 failed");
3. `write_index` (runs whatever the cities did) writes `briefs/<year>/index.html` (and `index.es.html`,
   `index.json`): each city's files, the cities that failed and why, and when the briefs were rendered;
4. `check_every_city_rendered` fails the run, after the index is written, when a city failed, so that
   a failure shows in Airflow.

**Triage a failure**: the index and `briefs/<year>/status/<city>.json` name the failed city, the
error and a short traceback; `render_briefs`'s log has the progress and each failure.
The same by hand: `citypeers brief <city> --lang es --format pdf` (one city), `citypeers briefs`
(the changed cities) or `citypeers briefs --force` (all).
Nothing here writes the warehouse, so a failed brief never affects the pipeline.
"""


@dag(
    dag_id="report__city_briefs",
    schedule=[Asset("citypeers://warehouse")],
    start_date=datetime(2023, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=30)},
    tags=["citypeers", "report", "briefs"],
    doc_md=DOC,
)
def report__city_briefs():
    @task
    def plan_briefs() -> dict:
        from citypeers.briefs.batch import plan

        return plan()

    @task
    def render_briefs(planned: dict) -> dict:
        from citypeers.briefs.batch import render_cities

        return render_cities(planned["year"], planned["city_ids"])

    @task(trigger_rule="all_done")
    def write_index(planned: dict) -> dict:
        from citypeers.briefs.batch import write_index

        return write_index(planned["year"], planned["city_ids"], planned["started_at"])

    @task
    def check_every_city_rendered(summary: dict) -> None:
        from citypeers.briefs.batch import BriefsFailed

        missing = {**summary["failed"], **{city: "not rendered" for city in summary["not_rendered"]}}
        if missing:
            raise BriefsFailed(f"briefs missing for {len(missing)} cities: {missing}; the others are in "
                               f"{summary['index']}")

    planned = plan_briefs()
    rendered = render_briefs(planned)
    summary = write_index(planned)
    rendered >> summary
    check_every_city_rendered(summary)


report__city_briefs()
