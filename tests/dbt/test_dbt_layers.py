"""The transform DAG builds dbt by layer (citypeers.runtime_env.DBT_LAYERS: one
`dbt build --selector layer_<name>` task each, dbt_project/selectors.yml, indirect selection
`buildable`): together the layers must build and test every node a whole `dbt build` would, each
once, and no layer may need a node of a later one."""

from __future__ import annotations

import json

import pytest
from dbt.cli.main import dbtRunner

from citypeers import paths
from citypeers.runtime_env import DBT_LAYERS, dbt_env

BUILT = ["model", "seed", "snapshot", "test", "source"]


@pytest.fixture(scope="module")
def dbt_list(tmp_path_factory):
    """`dbt ls` on one parsed manifest: selector arguments -> {unique_id: depends_on nodes}."""
    target = tmp_path_factory.mktemp("dbt_target")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CITYPEERS_HOME", str(target))
        for name, value in dbt_env().items():
            patch.setenv(name, value)
        project = ["--project-dir", str(paths.dbt_project_dir()), "--profiles-dir", str(paths.dbt_project_dir()),
                   "--target-path", str(target)]
        parsed = dbtRunner().invoke(["parse", *project])
        assert parsed.success, parsed.exception
        runner = dbtRunner(manifest=parsed.result)

        def listed(*selection: str) -> dict[str, list[str]]:
            result = runner.invoke(["ls", "--quiet", *project, "--resource-types", *BUILT, "--output", "json",
                                    "--output-keys", "unique_id", "depends_on", *selection])
            assert result.success, result.exception
            return {node["unique_id"]: node.get("depends_on", {}).get("nodes", [])
                    for node in map(json.loads, result.result)}

        yield listed


def test_the_layers_build_every_node_once(dbt_list):
    everything = dbt_list()
    layers = {layer: dbt_list("--selector", f"layer_{layer}", "--indirect-selection", "buildable")
              for layer in DBT_LAYERS}
    assert all(layers.values()), f"a layer selects nothing: {[name for name, nodes in layers.items() if not nodes]}"
    counted = [node for nodes in layers.values() for node in nodes]
    twice = sorted({node for node in counted if counted.count(node) > 1})
    assert not twice, f"built by two layers: {twice[:10]}"
    assert set(counted) == set(everything), (
        f"no layer builds {sorted(set(everything) - set(counted))[:10]}; "
        f"not in a whole build: {sorted(set(counted) - set(everything))[:10]}")


def test_no_layer_needs_a_later_one(dbt_list):
    seen: set[str] = set()
    for layer in DBT_LAYERS:
        nodes = dbt_list("--selector", f"layer_{layer}", "--indirect-selection", "buildable")
        seen |= nodes.keys()
        later = {node: [parent for parent in parents if parent not in seen]
                 for node, parents in nodes.items()}
        later = {node: parents for node, parents in later.items() if parents}
        assert not later, f"{layer} needs nodes of a later layer: {dict(list(later.items())[:5])}"
