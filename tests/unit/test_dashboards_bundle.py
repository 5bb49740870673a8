"""dashboards/ as code: every reference in the Superset tree resolves, datasets follow the dbt
contracts, the same tree renders for the embedded setup and for docker-compose, and the Official
role stays read-only. Seconds, no Superset needed; the browser tests show the dashboards work."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
TREE = REPO_ROOT / "dashboards"
DBT_TYPES = {"varchar": "VARCHAR", "double": "DOUBLE", "integer": "INTEGER", "bigint": "BIGINT",
             "boolean": "BOOLEAN", "timestamp": "TIMESTAMP", "date": "DATE"}


def load_module(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assets(folder: str) -> dict[str, dict]:
    return {path.relative_to(TREE).as_posix(): yaml.safe_load(path.read_text(encoding="utf-8"))
            for path in sorted((TREE / folder).rglob("*.yaml"))}


DATASETS = assets("datasets")
CHARTS = assets("charts")
DASHBOARDS = assets("dashboards")
DATASETS_BY_UUID = {dataset["uuid"]: dataset for dataset in DATASETS.values()}
CHARTS_BY_UUID = {chart["uuid"]: chart for chart in CHARTS.values()}


def dbt_contracts() -> dict[str, dict]:
    contracts = {}
    for path in (REPO_ROOT / "dbt_project" / "models" / "marts").rglob("_*__models.yml"):
        for model in yaml.safe_load(path.read_text(encoding="utf-8"))["models"]:
            contracts[model["name"]] = model
    return contracts


def test_uuids_are_unique():
    uuids = [asset["uuid"] for group in (DATASETS, CHARTS, DASHBOARDS) for asset in group.values()]
    assert len(uuids) == len(set(uuids))


@pytest.mark.parametrize("path", [path for path, dataset in DATASETS.items() if not dataset["sql"]])
def test_a_physical_dataset_has_the_columns_of_its_dbt_contract(path):
    dataset = DATASETS[path]
    contract = dbt_contracts()[dataset["table_name"]]
    expected = [(column["name"], DBT_TYPES[column["data_type"]]) for column in contract["columns"]]
    physical = [(column["column_name"], column["type"]) for column in dataset["columns"] if not column["expression"]]
    assert physical == expected


def marts_read_by(sql: str) -> dict[str, str]:
    """alias -> contracted mart for each table a virtual dataset's SQL reads (CTEs left out)."""
    sql = re.sub(r"--[^\n]*", "", sql)
    ctes = set(re.findall(r"(\w+)\s+as\s*\(", sql, re.IGNORECASE))
    return {alias or table: table
            for table, alias in re.findall(r"\b(?:from|join)\s+(\w+)(?:\s+as\s+(\w+))?", sql, re.IGNORECASE)
            if table not in ctes}


@pytest.mark.parametrize("path", [path for path, dataset in DATASETS.items() if dataset["sql"]])
def test_a_virtual_dataset_reads_contracted_marts_by_their_contracted_columns(path):
    """The marts' contracts are the only interface a dataset may rely on: every table it reads is a
    contracted mart, every alias.column it names is in that contract (with the contract's type where
    the dataset lists the column), and an alias.* brings every contracted column into the dataset."""
    dataset = DATASETS[path]
    contracts = dbt_contracts()
    marts = marts_read_by(dataset["sql"])
    assert set(marts.values()) - set(contracts) == set(), "reads tables that are not contracted marts"
    listed = {column["column_name"]: column["type"] for column in dataset["columns"]}
    sql = re.sub(r"--[^\n]*", "", dataset["sql"])
    for alias, name in set(re.findall(r"\b([a-z_]\w*)\.(\w+|\*)", sql)):
        if alias not in marts:
            continue
        contract = {column["name"]: DBT_TYPES[column["data_type"]] for column in contracts[marts[alias]]["columns"]}
        wanted = contract if name == "*" else {name: contract.get(name)}
        assert None not in wanted.values(), f"{alias}.{name}: no such column in {marts[alias]}'s contract"
        if name == "*":
            assert {column: listed.get(column) for column in wanted} == wanted, f"{alias}.* in {marts[alias]}"
        elif name in listed:
            assert listed[name] == wanted[name], f"{alias}.{name}"


def dataset_of(chart: dict) -> dict:
    assert chart["dataset_uuid"] in DATASETS_BY_UUID, f"{chart['slice_name']}: unknown dataset"
    return DATASETS_BY_UUID[chart["dataset_uuid"]]


def referenced_columns(params: dict) -> set[str]:
    groupby = params.get("groupby", [])
    names = set(params.get("all_columns", [])) | set(groupby if isinstance(groupby, list) else [groupby])
    for key in ("x_axis", "entity", "series"):
        if isinstance(params.get(key), str):
            names.add(params[key])
    names |= {json_col.split('"')[1] for json_col in params.get("order_by_cols", [])}
    names |= {flt["subject"] for flt in params.get("adhoc_filters", [])}
    names |= set(params.get("column_config", {}))
    return names


def referenced_metrics(params: dict) -> set[str]:
    names = set(params.get("metrics", []))
    for key in ("metric", "x", "y", "size", "secondary_metric"):
        if isinstance(params.get(key), str):
            names.add(params[key])
    return names


@pytest.mark.parametrize("path", sorted(CHARTS))
def test_a_chart_uses_columns_and_metrics_its_dataset_has(path):
    chart = CHARTS[path]
    dataset = dataset_of(chart)
    columns = {column["column_name"] for column in dataset["columns"]}
    metrics = {metric["metric_name"] for metric in dataset["metrics"]}
    assert chart["params"]["viz_type"] == chart["viz_type"]
    assert referenced_columns(chart["params"]) - columns == set()
    assert referenced_metrics(chart["params"]) - metrics == set()


@pytest.mark.parametrize("path", sorted(DASHBOARDS))
def test_a_dashboard_links_charts_and_filters_that_exist(path):
    dashboard = DASHBOARDS[path]
    nodes = [node for node in dashboard["position"].values() if isinstance(node, dict)]
    charts = [node["meta"] for node in nodes if node["type"] == "CHART"]
    assert charts, f"{path} has no charts"
    for meta in charts:
        assert meta["uuid"] in CHARTS_BY_UUID, f"{path}: no chart {meta['uuid']} ({meta['sliceName']})"
        assert CHARTS_BY_UUID[meta["uuid"]]["slice_name"] == meta["sliceName"]
    local_ids = [meta["chartId"] for meta in charts]
    assert sorted(local_ids) == list(range(1, len(charts) + 1))
    for node in nodes:
        for child in node.get("children", []):
            assert child in dashboard["position"], f"{path}: {node['id']} has a missing child {child}"
    for native_filter in dashboard["metadata"]["native_filter_configuration"]:
        [target] = native_filter["targets"]
        dataset = DATASETS_BY_UUID[target["datasetUuid"]]
        assert target["column"]["name"] in {column["column_name"] for column in dataset["columns"]}
        assert set(native_filter["scope"]["excluded"]) <= set(local_ids)
        default = native_filter["defaultDataMask"]["filterState"].get("value")
        if default:
            assert native_filter["defaultDataMask"]["extraFormData"]["filters"][0]["val"] == default


@pytest.mark.parametrize("path", sorted(DASHBOARDS))
def test_a_native_filter_reaches_every_chart_in_its_scope(path):
    """Superset leaves a filter out of a chart whose dataset has no column of that name, without a
    word on the chart: the chart then shows every row while the filter bar says otherwise. So a chart
    in a filter's scope must have the column, or the filter must exclude it."""
    dashboard = DASHBOARDS[path]
    charts = {node["meta"]["chartId"]: CHARTS_BY_UUID[node["meta"]["uuid"]]
              for node in dashboard["position"].values() if isinstance(node, dict) and node["type"] == "CHART"}
    for native_filter in dashboard["metadata"]["native_filter_configuration"]:
        [target] = native_filter["targets"]
        name = target["column"]["name"]
        missed = [chart["slice_name"] for chart_id, chart in charts.items()
                  if chart_id not in native_filter["scope"]["excluded"]
                  and name not in {column["column_name"] for column in dataset_of(chart)["columns"]}]
        assert missed == [], f"filter {native_filter['name']} ({name}) does not reach {missed}"


def test_what_worked_where_opens_on_the_demo_low_emission_zone():
    """The Practice filter selects 'practice id (indicator code)' (the datasets' practice_indicator),
    and its default is the demo's Barcelona low-emission zone on the indicator it targets."""
    from citypeers.demo.planted_practices import DEMO_PRACTICES

    [dashboard] = [d for d in DASHBOARDS.values() if d["slug"] == "what-worked-where"]
    [practice_filter] = [f for f in dashboard["metadata"]["native_filter_configuration"] if f["name"] == "Practice"]
    [lez] = [p for p in DEMO_PRACTICES if p.practice_id == "demo-bcn-lez-2025"]
    default = practice_filter["defaultDataMask"]["filterState"]["value"]
    assert default == [f"{lez.practice_id} ({lez.indicator_codes[0]})"]
    assert practice_filter["controlValues"]["enableEmptyFilter"] is True  # the series' metrics need one practice
    [target] = practice_filter["targets"]
    for dataset in DATASETS.values():
        if dataset["table_name"].startswith("fct_practice_impact"):
            [column] = [c for c in dataset["columns"] if c["column_name"] == target["column"]["name"]]
            assert column["expression"] == "practice_id || ' (' || indicator_code || ')'"


def test_every_chart_is_on_a_dashboard():
    placed = {node["meta"]["uuid"] for dashboard in DASHBOARDS.values()
              for node in dashboard["position"].values() if isinstance(node, dict) and node["type"] == "CHART"}
    assert set(CHARTS_BY_UUID) - placed == set()


def test_the_same_tree_renders_for_the_embedded_setup_and_docker_compose(tmp_path):
    bundle = load_module("superset_bundle")
    local = tmp_path / "local"
    compose = tmp_path / "compose"
    bundle.render_tree(TREE, local, {"CITYPEERS_SERVING_DB": "/home/me/citypeers/var/warehouse/citypeers.duckdb"})
    bundle.render_tree(TREE, compose, {"CITYPEERS_SERVING_DB": "/opt/citypeers/var/warehouse/citypeers.duckdb"})
    differing = [path.relative_to(local).as_posix() for path in sorted(local.rglob("*.yaml"))
                 if path.read_text() != (compose / path.relative_to(local)).read_text()]
    assert differing == ["databases/citypeers.yaml"]
    uri = yaml.safe_load((compose / "databases" / "citypeers.yaml").read_text())["sqlalchemy_uri"]
    assert uri == "duckdb:////opt/citypeers/var/warehouse/citypeers.duckdb"
    init = (REPO_ROOT / "docker" / "superset" / "init.sh").read_text()
    assert re.search(r'"\$script" import', init), "docker-compose must import through scripts/superset.sh"


def test_the_official_role_can_only_read():
    roles = load_module("superset_roles")
    for permission, view in roles.PERMISSIONS:
        assert permission in ("can_read", "can_dashboard", "can_explore_json", "can_time_range", "can_log",
                              "can_recent_activity", "menu_access") or view == "DashboardFilterStateRestApi", \
            (permission, view)
        assert "sql" not in view.lower() and "sql" not in permission.lower()
    assert {view for _, view in roles.PERMISSIONS} & {"Dataset", "Database", "SQLLab", "Query"} == set()


NOTICE_CHART = CHARTS["charts/demo_data_notice.yaml"]


@pytest.mark.parametrize("path", sorted(DASHBOARDS))
def test_every_dashboard_opens_with_the_demo_data_notice(path):
    """An official must never take the demo's made-up figures for measurements: the first row of
    every dashboard is the demo-data notice, full width."""
    position = DASHBOARDS[path]["position"]
    first_row = position[position["GRID_ID"]["children"][0]]
    [chart] = [position[child] for child in first_row["children"]]
    assert (chart["type"], chart["meta"]["uuid"], chart["meta"]["width"]) == ("CHART", NOTICE_CHART["uuid"], 12)


def _notice(con) -> tuple[str, bool]:
    from citypeers.dashboard_check import DEMO_DATA_NOTICE, DEMO_NOTICE_CHART

    assert NOTICE_CHART["slice_name"] == DEMO_NOTICE_CHART
    [row] = con.execute(dataset_of(NOTICE_CHART)["sql"]).fetchall()
    assert row[0].startswith(DEMO_DATA_NOTICE) == row[1]
    return row


@pytest.mark.parametrize(("feeds", "says_demo"), [
    ([("demo_asia", True, 120, 0), ("city_api", False, 40, 0)], True),
    ([("demo_practices", True, 0, 6)], True),  # demo practices only
    ([("demo_asia", True, 0, 0), ("city_api", False, 40, 0)], False),  # a demo feed with nothing published
    ([], False),
])
def test_the_demo_data_notice_says_demo_while_a_demo_feed_has_published_anything(feeds, says_demo):
    """The notice's SQL on a dim_feed of the contract's columns: always one row, the demo sentence
    exactly while a feed marked demo delivers published values or practices."""
    import duckdb

    [dim_feed] = [m for m in dbt_contracts().values() if m["name"] == "dim_feed"]
    columns = ", ".join(f"{c['name']} {c['data_type']}" for c in dim_feed["columns"])
    with duckdb.connect() as con:
        con.execute(f"create table dim_feed ({columns})")
        for feed_id, is_demo, values, practices in feeds:
            con.execute("insert into dim_feed (feed_id, is_demo, published_value_count, published_practice_count) "
                        "values (?, ?, ?, ?)", [feed_id, is_demo, values, practices])
        notice, holds_demo_data = _notice(con)
    assert holds_demo_data is says_demo
    assert notice.startswith("demo data: synthetic values for real city names") is says_demo


def test_data_health_shows_each_feeds_last_fetch_status_change_bytes_and_next_run():
    [dashboard] = [d for d in DASHBOARDS.values() if d["slug"] == "data-health"]
    placed = {node["meta"]["uuid"] for node in dashboard["position"].values()
              if isinstance(node, dict) and node["type"] == "CHART"}
    [chart] = [c for c in CHARTS.values() if c["slice_name"] == "Feeds: last fetch and next run"]
    assert chart["uuid"] in placed
    assert dataset_of(chart)["table_name"] == "dim_feed"
    assert {"feed_id", "last_fetched_at", "last_fetch_http_statuses", "last_fetch_change", "last_fetch_bytes",
            "next_run_at"} <= set(chart["params"]["all_columns"])
