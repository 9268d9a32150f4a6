"""Dependencies shared by the routes: the database session, settings, and the token checks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from cloud.auth.models import ApiToken, Scope, TenantScope
from cloud.auth.service import Principal, authenticate, authenticate_tenant
from cloud.core.config import Settings
from cloud.core.types import utcnow


def _session(request: Request) -> Iterator[Session]:
    with Session(request.app.state.engine) as session:
        yield session


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


SessionDep = Annotated[Session, Depends(_session)]
SettingsDep = Annotated[Settings, Depends(_settings)]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def require_read(request: Request, session: SessionDep, settings: SettingsDep) -> ApiToken | None:
    token = _bearer(request)
    if token is None and settings.reads_open:
        return None
    return authenticate(session, token, need=Scope.READ, now=utcnow())


def require_write(request: Request, session: SessionDep) -> ApiToken:
    return authenticate(session, _bearer(request), need=Scope.WRITE, now=utcnow())


ReadAccess = Annotated[ApiToken | None, Depends(require_read)]
WriteAccess = Annotated[ApiToken, Depends(require_write)]


# The advertisers' API (/v1): a tenant key with the scope, or an ops token (staff see every tenant).
# Never open without a key, whatever `open_reads` says.
def require_campaigns(request: Request, session: SessionDep) -> Principal:
    return authenticate_tenant(session, _bearer(request), need=TenantScope.CAMPAIGNS_READ, now=utcnow())


def require_reports(request: Request, session: SessionDep) -> Principal:
    return authenticate_tenant(session, _bearer(request), need=TenantScope.REPORTS_READ, now=utcnow())


CampaignsAccess = Annotated[Principal, Depends(require_campaigns)]
ReportsAccess = Annotated[Principal, Depends(require_reports)]
