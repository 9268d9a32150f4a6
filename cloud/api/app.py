"""The FastAPI application: health and the device registry."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Request
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from cloud.registry.models import Device, DevicePublic


def _session(request: Request):  # type: ignore[no-untyped-def]
    with Session(request.app.state.engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(_session)]


def create_app(engine: Engine) -> FastAPI:
    app = FastAPI(title="Mobilytics control plane", version="0.1.0")
    app.state.engine = engine

    @app.get("/health")
    def health(session: SessionDep) -> dict[str, str]:
        session.exec(text("SELECT 1"))  # type: ignore[call-overload]
        return {"status": "ok", "db": "ok"}

    @app.get("/devices")
    def list_devices(session: SessionDep) -> list[DevicePublic]:
        rows = session.exec(select(Device).order_by(Device.id)).all()
        return [DevicePublic.model_validate(d) for d in rows]

    return app
