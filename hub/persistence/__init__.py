"""The persistence layer: the only package of the project that speaks SQL.

`database` opens connections (one set of PRAGMAs, one place); repositories by aggregate live
beside it and take a connection; the rest of the hub and the web app call them with typed
records in and out. See docs/architecture.md.
"""
