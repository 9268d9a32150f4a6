"""The analytics rollup persisted in SQL (PostgreSQL in production, SQLite for the embedded stack).

The pure core (`cloud.analytics`) defines the metrics; this package keeps their state in tables
the ingest updates inside its flush transaction (`update.py`) and the API reads (`query.py`), so
no process holds analytics state in memory. `partners.py` is what billing and exports call.
"""
