"""The persistence layer: the only package of the project that speaks SQL.

`database` opens connections (one set of PRAGMAs, one place); repositories by aggregate live
beside it and take a connection; the rest of the hub and the web app call them with typed
records in and out. See docs/architecture.md.

The web app's share: `web_database` (its autocommit engine, `atomic`, busy errors),
`web_schema` (its tables), `accounts`, `sessions`, `audit`, `visits` (its own tables),
`read_models` (what pages read about homes, alerts, kits and residents), `web_registry`
(residents import and exports), `web_live` (the live pages' fingerprint) and `web_metrics`
(/metrics figures). dashboards/ holds no SQL (tests/dashboards/test_no_sql_in_dashboards.py).
"""
