"""`mobilytics user create/password`: how ops get a sign-in for the fleet UI."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from cloud.auth.users import sign_in
from cloud.cli import app
from cloud.core.db import make_engine
from cloud.core.types import utcnow
from cloud.exceptions import AuthError


def test_an_ops_user_is_created_once_and_can_change_password(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'ops.sqlite3'}"
    runner = CliRunner()
    created = runner.invoke(
        app, ["user", "create", "ana", "--password-stdin", "--db", db], input="first-pass-123\n"
    )
    assert created.exit_code == 0, created.output
    again = runner.invoke(
        app, ["user", "create", "ana", "--password-stdin", "--db", db], input="other-pass-123\n"
    )
    assert again.exit_code == 2
    assert "already exists" in again.output
    changed = runner.invoke(
        app, ["user", "password", "ana", "--password-stdin", "--db", db], input="second-pass-456\n"
    )
    assert changed.exit_code == 0, changed.output
    engine = make_engine(db)
    with Session(engine) as s:
        sign_in(s, username="ana", password="second-pass-456", now=utcnow())
        with pytest.raises(AuthError):
            sign_in(s, username="ana", password="first-pass-123", now=utcnow())
    engine.dispose()
