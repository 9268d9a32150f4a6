"""Who is signed in, and CSRF checks: the dependencies every UI route uses.

* The session cookie (`mob_session`, HttpOnly, SameSite=Lax) holds 256 random bits; the database
  keeps their SHA-256 (cloud/auth/users.py). Pages without a session redirect to the login page.
* Every form carries the session's CSRF token in a hidden `csrf` field (JS requests: the
  `X-CSRF-Token` header); a POST without the right one is refused with 403. The login form, which
  has no session yet, uses a double-submit cookie (`mob_login_csrf`) instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from sqlmodel import Session

from cloud.api.deps import SessionDep
from cloud.auth.models import OpsSession, OpsUser
from cloud.auth.users import csrf_ok, current
from cloud.core.types import utcnow

COOKIE = "mob_session"
LOGIN_CSRF_COOKIE = "mob_login_csrf"


class LoginRequired(Exception):
    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


class CsrfRejected(Exception):
    """A state-changing request without the session's CSRF token (answered 403)."""


@dataclass(frozen=True)
class Operator:
    user: OpsUser
    session: OpsSession

    @property
    def csrf(self) -> str:
        return self.session.csrf_token


def login_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/ui/login?next={quote(target, safe='')}"


def _operator(request: Request, session: SessionDep) -> Operator:
    found = current(session, cookie=request.cookies.get(COOKIE), now=utcnow())
    if found is None:
        raise LoginRequired(login_url(request))
    row, user = found
    session.expunge_all()  # plain values from here on; the request's own session may commit later
    return Operator(user=user, session=row)


OperatorDep = Annotated[Operator, Depends(_operator)]


async def _checked(request: Request, operator: OperatorDep) -> Operator:
    presented = request.headers.get("x-csrf-token")
    if presented is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        presented = (await request.form()).get("csrf")  # type: ignore[assignment]
    if not csrf_ok(operator.session, presented if isinstance(presented, str) else None):
        raise CsrfRejected()
    return operator


CheckedOperatorDep = Annotated[Operator, Depends(_checked)]

__all__ = ["COOKIE", "CheckedOperatorDep", "OperatorDep", "Session"]
