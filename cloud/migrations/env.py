"""Alembic environment: runs on the connection `cloud.core.db.migrate` passes in, or on the URL of
`MOBILYTICS_DB` when invoked as `alembic -c cloud/alembic.ini ...`."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import cloud.core.models  # noqa: F401  (registers every table on SQLModel.metadata)

config = context.config
target_metadata = SQLModel.metadata


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # ALTER TABLE on SQLite
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    from cloud.core.config import Settings
    from cloud.core.db import make_engine

    engine = make_engine(Settings.from_env().db)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
