"""Sign-in, sessions and CSRF over HTTP (no browser), on a real migrated SQLite database."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from cloud.api.app import create_app
from cloud.auth.models import OpsSession, OpsUser
from cloud.auth.passwords import hash_password, verify_password
from cloud.auth.users import create_user
from cloud.core.config import Settings
from cloud.core.db import make_engine, migrate
from cloud.core.types import utcnow
from cloud.exceptions import OpsUserError
from cloud.registry.models import Device

PASSWORD = "s3cret-enough"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    engine = make_engine(f"sqlite:///{tmp_path / 'ui.sqlite3'}")
    migrate(engine)
    with Session(engine) as s:
        create_user(s, username="ops", password=PASSWORD, now=utcnow())
        s.add(Device(id="dev-1", hardware="esp32", status="online"))
        s.commit()
    with TestClient(create_app(engine, Settings())) as c:
        c.engine = engine  # type: ignore[attr-defined]
        yield c
    engine.dispose()


def _login(c: TestClient, password: str = PASSWORD, *, csrf: str | None = None):  # type: ignore[no-untyped-def]
    form = c.get("/ui/login?next=/ui/devices").text
    token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    data = {
        "username": "ops",
        "password": password,
        "csrf": token if csrf is None else csrf,
        "next": "/ui/devices",
    }
    return c.post("/ui/login", data=data, follow_redirects=False)


def _page_csrf(c: TestClient) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', c.get("/ui/").text).group(1)  # type: ignore[union-attr]


def test_passwords_are_scrypt_hashed_and_salted() -> None:
    a, b = hash_password("hunter2hunter2"), hash_password("hunter2hunter2")
    assert a != b
    assert a.startswith("scrypt$")
    assert "hunter2" not in a
    assert verify_password("hunter2hunter2", a)
    assert not verify_password("hunter2hunter3", a)
    assert not verify_password("x", "garbage")


def test_pages_need_a_session_and_sign_in_goes_back_where_you_were(client: TestClient) -> None:
    r = client.get("/ui/devices?status=offline", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/ui/login?next=")
    assert client.get("/ui/events", follow_redirects=False).status_code == 303
    assert _login(client, "wrong password").status_code == 401
    r = _login(client)
    assert r.status_code == 303
    assert r.headers["location"] == "/ui/devices"
    cookie = r.cookies.get("mob_session") or client.cookies.get("mob_session")
    assert cookie
    with Session(client.engine) as s:  # type: ignore[attr-defined]
        row = s.exec(select(OpsSession)).one()
        assert cookie not in row.token_hash  # only the hash is stored
        assert s.exec(select(OpsUser)).one().last_login_at is not None
    assert client.get("/ui/devices").status_code == 200


def test_login_form_and_every_post_need_their_csrf_token(client: TestClient) -> None:
    assert _login(client, csrf="forged").status_code == 403
    _login(client)
    r = client.post("/ui/devices/dev-1/config", data={"desired": '{"heartbeat_s": 30}'})
    assert r.status_code == 403
    r = client.post("/ui/devices/dev-1/config", data={"desired": '{"heartbeat_s": 30}', "csrf": "nope"})
    assert r.status_code == 403
    r = client.post(
        "/ui/devices/dev-1/config",
        data={"desired": '{"heartbeat_s": 30}', "csrf": _page_csrf(client)},
        follow_redirects=False,
    )
    assert r.status_code == 303


def test_bad_desired_config_is_shown_with_the_field_and_not_stored(client: TestClient) -> None:
    _login(client)
    csrf = _page_csrf(client)
    r = client.post("/ui/devices/dev-1/config", data={"desired": '{"heartbeat_s": 1}', "csrf": csrf})
    assert r.status_code == 422
    assert "heartbeat_s" in r.text
    assert "minimum of 5" in r.text
    r = client.post("/ui/devices/dev-1/config", data={"desired": '{"heartbeat_s": ', "csrf": csrf})
    assert r.status_code == 422
    assert "not JSON" in r.text
    r = client.post("/ui/devices/dev-1/config", data={"desired": '{"nope": 1}', "csrf": csrf})
    assert r.status_code == 422
    assert "Additional properties" in r.text
    assert '"desired_version":0' in client.get("/devices/dev-1/config").text.replace(" ", "")


def test_sign_out_revokes_the_session_for_real(client: TestClient) -> None:
    _login(client)
    cookie = client.cookies.get("mob_session")
    r = client.post("/ui/logout", data={"csrf": _page_csrf(client)}, follow_redirects=False)
    assert r.status_code == 303
    client.cookies.set("mob_session", cookie)  # a stolen copy of the cookie is worthless now
    assert client.get("/ui/", follow_redirects=False).status_code == 303


def test_open_redirects_are_refused(client: TestClient) -> None:
    form = client.get("/ui/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    r = client.post(
        "/ui/login",
        data={"username": "ops", "password": PASSWORD, "csrf": token, "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert r.headers["location"] == "/ui/"


def test_user_names_and_passwords_are_checked(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'u.sqlite3'}")
    migrate(engine)
    with Session(engine) as s:
        with pytest.raises(OpsUserError, match="at least"):
            create_user(s, username="ana", password="short", now=utcnow())
        with pytest.raises(OpsUserError, match="names are"):
            create_user(s, username="a b", password=PASSWORD, now=utcnow())
        create_user(s, username="ana", password=PASSWORD, now=utcnow())
        with pytest.raises(OpsUserError, match="already exists"):
            create_user(s, username="ana", password=PASSWORD, now=utcnow())
    engine.dispose()
