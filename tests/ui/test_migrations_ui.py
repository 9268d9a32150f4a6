"""The ops-user revision sits on one line of history: exactly one Alembic head."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from cloud.core.db import alembic_config


def test_one_alembic_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, heads
