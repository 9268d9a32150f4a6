"""Fixtures of the campaign tests. The databases come from tests/cloud/conftest.py (reused, not copied)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.api.app import create_app
from cloud.auth.models import Scope
from cloud.auth.service import create_token
from cloud.core.config import Settings
from cloud.core.types import utcnow
from tests.cloud.conftest import cloud, db_url, engine, pg_url  # noqa: F401  (fixtures)


@pytest.fixture
def ops_tokens(engine: Engine) -> dict[str, str]:  # noqa: F811
    with Session(engine) as s:
        _, read = create_token(s, name="viewer", scope=Scope.READ, now=utcnow())
        _, write = create_token(s, name="ops", scope=Scope.WRITE, now=utcnow())
        s.commit()
    return {"read": read, "write": write}


@pytest.fixture
def api(engine: Engine) -> Iterator[TestClient]:  # noqa: F811
    """An API on a public address: every route needs a token."""
    with TestClient(create_app(engine, Settings(api_host="0.0.0.0"))) as client:
        yield client


def h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
