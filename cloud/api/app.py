"""The FastAPI application: health, metrics, and one router per resource."""

from __future__ import annotations

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import Engine, text

from cloud.api import errors
from cloud.api.deps import SessionDep
from cloud.api.routes import (
    billing,
    campaigns,
    config,
    deployments,
    devices,
    enrollments,
    exports,
    releases,
    reports,
    telemetry,
)
from cloud.billing.config import BillingSettings
from cloud.campaigns import routes as campaign_world
from cloud.core.config import Settings
from cloud.exports.config import ExportSettings
from cloud.identity.service import Identity
from cloud.observability.metrics import REGISTRY, FleetCollector
from cloud.ui import mount as mount_ui


def create_app(
    engine: Engine,
    settings: Settings | None = None,
    identity: Identity | None = None,
    *,
    billing_settings: BillingSettings | None = None,
    export_settings: ExportSettings | None = None,
) -> FastAPI:
    app = FastAPI(title="Mobilytics control plane", version="0.1.0")
    app.state.engine = engine
    app.state.settings = settings or Settings()
    # Device enrollment (cloud/identity): None leaves /devices/register answering that it is off.
    app.state.identity = identity
    app.state.billing = billing_settings or BillingSettings.from_env()
    app.state.exports = export_settings or ExportSettings.from_env()
    errors.install(app)
    # Fleet gauges come from this app's database; process counters from the shared REGISTRY.
    fleet = CollectorRegistry(auto_describe=True)
    fleet.register(FleetCollector(engine))

    @app.get("/health")
    def health(session: SessionDep) -> dict[str, str]:
        session.exec(text("SELECT 1"))  # type: ignore[call-overload]
        return {"status": "ok", "db": "ok"}

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(REGISTRY) + generate_latest(fleet), media_type=CONTENT_TYPE_LATEST)

    app.include_router(enrollments.router)
    app.include_router(devices.router)
    app.include_router(config.router)
    app.include_router(telemetry.router)
    app.include_router(campaign_world.router)
    app.include_router(campaigns.router)
    app.include_router(reports.router)
    mount_ui(app)  # the ops pages under /ui (cloud/ui/)
    app.include_router(releases.router)
    app.include_router(deployments.router)
    app.include_router(billing.router)
    app.include_router(exports.router)
    return app
