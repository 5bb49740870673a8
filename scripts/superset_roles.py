"""Create or update the "Official" role and the demo official user (idempotent).

An Official reads the dashboards and the data behind their charts, and nothing else: no SQL Lab,
no chart or dashboard editing, no dataset or database screens. The role holds exactly the
permissions listed here (anything else found on it is removed), plus read access to the
citypeers database, which exists only once the dashboards are imported; so
``scripts/superset.sh import`` runs this script after the import.

The user ``official`` logs in with the password that ``scripts/superset.sh bootstrap`` generated
into ``$SUPERSET_HOME/official_password`` (mode 0600), like the admin's.

Run with the Superset environment's Python and SUPERSET_CONFIG_PATH set:

    python scripts/superset_roles.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROLE = "Official"
USERNAME = "official"
DATABASE_NAME = "citypeers"

# (permission, view menu) pairs an Official needs to open a dashboard and see its charts.
PERMISSIONS = (
    ("can_read", "Dashboard"),  # the dashboard list, a dashboard, its charts and datasets
    ("can_read", "Chart"),  # /api/v1/chart/data, which every chart of a dashboard calls
    ("can_dashboard", "Superset"),  # the dashboard page itself
    ("can_explore_json", "Superset"),  # the data of legacy charts (the world map)
    ("can_read", "DashboardFilterStateRestApi"),  # native filter values kept per browser tab
    ("can_write", "DashboardFilterStateRestApi"),
    ("can_read", "DashboardPermalinkRestApi"),  # open a shared dashboard link
    ("can_time_range", "Api"),
    ("can_log", "Superset"),  # the frontend's own event log
    ("can_recent_activity", "Log"),
    ("menu_access", "Dashboards"),
)


def sync_role_and_user(superset_home: Path) -> list[str]:
    from superset.app import create_app

    app = create_app()
    with app.app_context():
        from superset import db, security_manager
        from superset.models.core import Database

        database = db.session.query(Database).filter_by(database_name=DATABASE_NAME).one_or_none()
        if database is None:
            raise SystemExit(f"no Superset database {DATABASE_NAME!r}: import the dashboards first")
        wanted = [*PERMISSIONS, ("database_access", database.perm)]
        permission_views = []
        for permission, view in wanted:
            permission_view = security_manager.find_permission_view_menu(permission, view)
            if permission_view is None:
                raise SystemExit(f"Superset has no permission {permission} on {view}: run 'superset init'")
            permission_views.append(permission_view)

        role = security_manager.find_role(ROLE) or security_manager.add_role(ROLE)
        role.permissions = permission_views
        password_file = superset_home / f"{USERNAME}_password"
        if not password_file.is_file():
            raise SystemExit(f"no {password_file}: run 'scripts/superset.sh bootstrap' first")
        password = password_file.read_text().strip()
        user = security_manager.find_user(username=USERNAME)
        if user is None:
            user = security_manager.add_user(
                USERNAME, "City", "Official", "official@citypeers.invalid", role, password=password
            )
            if not user:
                raise SystemExit(f"could not create the user {USERNAME!r}")
        else:
            user.roles = [role]
            security_manager.reset_password(user.id, password)
        db.session.commit()
        return sorted(f"{pv.permission.name} on {pv.view_menu.name}" for pv in role.permissions)


def main() -> int:
    superset_home = Path(os.environ["SUPERSET_HOME"])
    granted = sync_role_and_user(superset_home)
    print(f"role {ROLE}: {len(granted)} permissions; user {USERNAME} (password in "
          f"{superset_home / (USERNAME + '_password')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
