"""Import a rendered dashboards bundle into Superset, replacing every asset in it by UUID.

Why not ``superset import-dashboards``: in Superset 6.1 that command overwrites only the
dashboard row; the databases, datasets and charts it finds already present (same UUID) are kept
as they are (``ImportDashboardsCommand`` imports them with ``overwrite=False``), so a changed
chart or a moved warehouse in git never reaches a running Superset after the first import.
``ImportAssetsCommand`` is Superset's importer for assets kept under source control (the one
behind ``POST /api/v1/assets/import/``): it overwrites the database connection, datasets,
charts and dashboards of the bundle, in one transaction.

Run with the Superset environment's Python and SUPERSET_CONFIG_PATH set (scripts/superset.sh
import does both):

    python scripts/superset_import.py <bundle.zip> --username admin
"""

from __future__ import annotations

import argparse
import sys
from zipfile import ZipFile


def import_bundle(bundle: str, username: str) -> list[str]:
    from superset.app import create_app

    app = create_app()
    with app.app_context():
        from superset import security_manager
        from superset.commands.importers.v1.assets import ImportAssetsCommand
        from superset.commands.importers.v1.utils import get_contents_from_bundle
        from superset.utils.core import override_user

        user = security_manager.find_user(username=username)
        if user is None:
            raise SystemExit(f"no Superset user {username!r}: run 'scripts/superset.sh bootstrap' first")
        with ZipFile(bundle) as archive:
            contents = get_contents_from_bundle(archive)
        with override_user(user):
            ImportAssetsCommand(contents).run()
        return sorted(name for name in contents if name != "metadata.yaml")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", help="ZIP made from the rendered dashboards/ tree")
    parser.add_argument("--username", "-u", required=True, help="the Superset user who owns the assets")
    args = parser.parse_args(argv)
    try:
        imported = import_bundle(args.bundle, args.username)
    except Exception as exc:
        messages = getattr(exc, "normalized_messages", None)
        details = messages() if callable(messages) else ""
        print(f"import of {args.bundle} failed: {exc!r} {details}", file=sys.stderr)
        raise
    print(f"imported {len(imported)} assets from {args.bundle}:")
    for name in imported:
        print(f"  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
