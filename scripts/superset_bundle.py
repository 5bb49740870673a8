"""Render the Superset export tree in ``dashboards/`` for one environment.

The tree in git is a template: ``${NAME}`` placeholders (so far only ``CITYPEERS_SERVING_DB``,
the path of the serving warehouse) get their values here, so the same files import into a
local setup and a docker-compose one. Every placeholder must be given a value, every value
given must be used, and each rendered file must still be valid YAML: a typo or a path that
breaks YAML fails here, not halfway through a Superset import.

    python scripts/superset_bundle.py dashboards/ <out_dir> --set CITYPEERS_SERVING_DB=/path/x.duckdb
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
EXPORT_FOLDERS = ("databases", "datasets", "charts", "dashboards")


def render_text(text: str, values: dict[str, str], source: Path) -> tuple[str, set[str]]:
    used: set[str] = set()

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise SystemExit(f"{source}: placeholder ${{{name}}} has no value (pass --set {name}=...)")
        used.add(name)
        return values[name]

    return PLACEHOLDER.sub(substitute, text), used


def bundle_files(tree: Path) -> list[Path]:
    """metadata.yaml and the YAML files of Superset's export folders; nothing else."""
    files = [tree / "metadata.yaml"]
    for folder in EXPORT_FOLDERS:
        files.extend(sorted((tree / folder).rglob("*.yaml")))
    missing = [path for path in files if not path.is_file()]
    if missing or len(files) == 1:
        raise SystemExit(f"{tree} is not a Superset export tree (missing: {missing or EXPORT_FOLDERS})")
    return files


def render_tree(tree: Path, out_dir: Path, values: dict[str, str]) -> list[Path]:
    used: set[str] = set()
    written = []
    for source in bundle_files(tree):
        rendered, names = render_text(source.read_text(encoding="utf-8"), values, source)
        used |= names
        try:
            yaml.safe_load(rendered)
        except yaml.YAMLError as exc:
            raise SystemExit(f"{source}: not valid YAML after rendering: {exc}") from exc
        target = out_dir / source.relative_to(tree)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(rendered, encoding="utf-8")
        written.append(target)
    unused = set(values) - used
    if unused:
        raise SystemExit(f"--set {', '.join(sorted(unused))}: no such placeholder in {tree}")
    return written


def parse_assignments(assignments: list[str]) -> dict[str, str]:
    values = {}
    for assignment in assignments:
        name, sep, value = assignment.partition("=")
        if not sep or not PLACEHOLDER.fullmatch(f"${{{name}}}"):
            raise SystemExit(f"--set expects NAME=value, got {assignment!r}")
        values[name] = value
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tree", type=Path, help="the export tree in git (dashboards/)")
    parser.add_argument("out_dir", type=Path, help="where to write the rendered tree (must not exist)")
    parser.add_argument("--set", dest="assignments", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args(argv)
    if args.out_dir.exists():
        raise SystemExit(f"{args.out_dir} already exists")
    written = render_tree(args.tree, args.out_dir, parse_assignments(args.assignments))
    print(f"rendered {len(written)} files into {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
