"""The Alembic migrations build exactly the models' schema, on SQLite and PostgreSQL, and go back down."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

import cloud.core.models  # noqa: F401
from cloud.core.db import downgrade, make_engine, migrate


def test_migrations_match_the_models_and_downgrade(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        migrate(engine)
        migrate(engine)  # idempotent: a second replica starting runs it again
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, SQLModel.metadata)
        assert diff == []
        tables = set(inspect(engine).get_table_names())
        assert {"device", "observation", "telemetry_batch", "telemetry_gap", "dead_letter"} <= tables
        downgrade(engine)
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
