"""The persistence layer: the only package of the project that speaks SQL.

`database` opens connections (one set of PRAGMAs, one place); `migrate`, the `schema_*` modules
and `web_schema` version every table (components core, alerts, web); repositories by aggregate live
beside them and take a connection; the rest of the hub and the web app call them with typed
records in and out (`records`), with times converted in one place (`timestamps`).

The web app's share: `web_database` (its autocommit engine, `atomic`, busy errors),
`web_schema` (its tables), `accounts`, `sessions`, `audit`, `visits` (its own tables),
`read_models` (what pages read about homes, alerts, kits and residents), `web_registry`
(residents import and exports), `web_live` (the live pages' fingerprint) and `web_metrics`
(/metrics figures). dashboards/ holds no SQL (tests/dashboards/test_no_sql_in_dashboards.py).
See docs/architecture.md.
"""

from hub.persistence.database import create_engine, open_sqlite
from hub.persistence.migrate import SchemaTooNewError, apply_migrations, schema_version
from hub.persistence.schema_alerts import migrate_alerts
from hub.persistence.web_schema import migrate_web

__all__ = [
    "SchemaTooNewError",
    "apply_migrations",
    "create_engine",
    "migrate_alerts",
    "migrate_web",
    "open_sqlite",
    "schema_version",
]
