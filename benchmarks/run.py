"""citypeers benchmarks: prints figures, asserts nothing about speed.

Measures, on a fresh home with the demo slice: demo feed generation, ingest of one year of the
EEA feed, one quarter of the OpenAQ feed and one year of each other demo feed (land → parse → GX
gate), dbt build + GX + publish,
and the time to parse the whole DAG folder. Results also go to benchmarks/results/<timestamp>.json.
"""

from __future__ import annotations

import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.pipeline import (  # noqa: E402  (reuses the e2e harness: same feeds, same server)
    BIN,
    E2E_CITIES,
    environment,
    feeds_file_with_port,
    free_port,
    run,
    start_openaq,
)

DAGBAG = "from airflow.dag_processing.dagbag import DagBag; import time, sys; " \
         "t = time.perf_counter(); DagBag(dag_folder=sys.argv[1]); print(time.perf_counter() - t)"


def timed(label: str, command: list[str], env: dict, figures: dict) -> None:
    started = time.perf_counter()
    run(command, env, timeout=3600)
    figures[label] = round(time.perf_counter() - started, 2)
    print(f"{label:<44}{figures[label]:>9.2f} s", flush=True)


def main() -> None:
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="citypeers-bench-") as folder:
        home = Path(folder)
        port = free_port()
        env = environment(home, feeds_file_with_port(home, port))
        cli = str(BIN / "citypeers")
        timed("demo feeds, 6 cities x 3 years", [cli, "demo-data", "--cities", *E2E_CITIES], env, figures)
        server = start_openaq(env, port, home / "openaq.log")
        try:
            timed("ingest eea_air, 1 year (CLI)",
                  [cli, "ingest", "demo_europe", "--start", "2024-01-01", "--end", "2025-01-01"], env, figures)
            timed("ingest openaq_air, 1 quarter (CLI, HTTP)",
                  [cli, "ingest", "demo_asia", "--start", "2024-01-01", "--end", "2024-04-01"], env, figures)
        finally:
            server.terminate()
        for feed_id, source in (("demo_gtfs", "gtfs"), ("demo_gbfs", "gbfs"), ("demo_water", "sdmx_csv"),
                                ("demo_city_template", "indicator_template"), ("demo_waste", "wide_table")):
            timed(f"ingest {source}, 1 year (CLI)",
                  [cli, "ingest", feed_id, "--start", "2024-01-01", "--end", "2025-01-01"], env, figures)
        timed("dbt build + GX on marts + publish (CLI)", [cli, "build"], env, figures)
        parse = subprocess.run([sys.executable, "-c", DAGBAG, str(Path(__file__).parents[1] / "dags")],
                               env=env, capture_output=True, text=True, check=True)
        figures["parse the DAG folder"] = round(float(parse.stdout.strip().splitlines()[-1]), 2)
        print(f"{'parse the DAG folder':<44}{figures['parse the DAG folder']:>9.2f} s")
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    figures["peak memory of a child process (MB)"] = round(peak_mb)
    print(f"{'peak memory of a child process':<44}{peak_mb:>9.0f} MB")
    result = {"measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
              "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
              "figures": figures}
    target = Path(__file__).parent / "results" / f"{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    target.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"written to {target}")


if __name__ == "__main__":
    main()
