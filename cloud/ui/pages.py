"""The ops pages: overview, devices, device, rollouts, map, and sign-in. Server-rendered (Jinja2)."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from cloud.api.deps import SessionDep, SettingsDep
from cloud.auth.users import sign_in, sign_out
from cloud.core.types import utcnow
from cloud.exceptions import AuthError, CloudError, ConfigInvalidError, InvalidStateChangeError, NotFoundError
from cloud.ingest import reports
from cloud.registry import heartbeats
from cloud.registry.models import Device, DeviceState, DeviceUpdate, HeartbeatSample
from cloud.registry.service import get_device, update_device
from cloud.shadow import service as shadow
from cloud.shadow.schemas import schema_for
from cloud.ui import charts, fleet, geo
from cloud.ui.rollouts import ACTIONS, Rollouts
from cloud.ui.session import COOKIE, LOGIN_CSRF_COOKIE, CheckedOperatorDep, Operator, OperatorDep

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
router = APIRouter(prefix="/ui", include_in_schema=False)


def _ago(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return "never"
    s = ((now or utcnow()) - value).total_seconds()
    if s < 0:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{int(s // size)}{unit} ago"
    return f"{int(s)}s ago"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = int(abs(seconds))
    if s >= 86400:
        return f"{s // 86400}d {s % 86400 // 3600}h"
    if s >= 3600:
        return f"{s // 3600}h {s % 3600 // 60}m"
    if s >= 60:
        return f"{s // 60}m {s % 60}s"
    return f"{s}s"


def _bytes(n: int | None) -> str:
    if n is None:
        return "—"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


TEMPLATES.env.filters["bytes"] = _bytes
TEMPLATES.env.filters["ago"] = _ago
TEMPLATES.env.filters["duration"] = _duration
TEMPLATES.env.filters["iso"] = lambda v: v.isoformat() if v else ""
TEMPLATES.env.filters["pretty"] = lambda v: json.dumps(v, indent=2, sort_keys=True)


def _rollouts(request: Request) -> Rollouts | None:
    return request.app.state.ui_rollouts  # type: ignore[no-any-return]


def render(
    request: Request, name: str, operator: Operator | None, status_code: int = 200, **ctx: Any
) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(
        request,
        name,
        {"operator": operator, "now": utcnow(), "statuses": fleet.STATUSES, **ctx},
        status_code=status_code,
    )


# ---- sign-in ------------------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    return target if target and target.startswith("/ui") and not target.startswith("//") else "/ui/"


@router.get("/login")
def login_form(request: Request, next: str | None = None, error: str | None = None) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", None, next=_safe_next(next), csrf=token, error=error)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path="/ui/login")
    return response


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/ui/",
) -> Response:
    cookie_token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not csrf or not secrets.compare_digest(csrf, cookie_token):
        return render(
            request,
            "login.html",
            None,
            403,
            next=_safe_next(next),
            csrf=cookie_token or "",
            error="The form expired; please sign in again.",
        )
    try:
        _row, cookie = sign_in(session, username=username, password=password, now=utcnow())
    except AuthError as e:
        return render(
            request,
            "login.html",
            None,
            401,
            next=_safe_next(next),
            csrf=cookie_token,
            error=e.reason,
            username=username,
        )
    session.commit()
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE,
        cookie,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
        max_age=12 * 3600,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/ui/login")
    return response


@router.post("/logout")
def logout(session: SessionDep, operator: CheckedOperatorDep) -> Response:
    row = session.merge(operator.session)
    sign_out(session, row=row, now=utcnow())
    session.commit()
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


# ---- overview -----------------------------------------------------------------------------------


@router.get("/")
def overview(
    request: Request, session: SessionDep, settings: SettingsDep, operator: OperatorDep
) -> HTMLResponse:
    now = utcnow()
    rollouts = _rollouts(request)
    failed = rollouts.failed_devices(session) if rollouts else {}
    ov = fleet.overview(session, now=now, policy=settings.presence_policy, failed_jobs=failed)
    return render(
        request,
        "overview.html",
        operator,
        ov=ov,
        counts=fleet.counts(session, now=now, policy=settings.presence_policy),
        rollouts_on=rollouts is not None,
        page="overview",
    )


# ---- devices ------------------------------------------------------------------------------------


@router.get("/devices")
def devices(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    operator: OperatorDep,
    status: str | None = None,
    state: str | None = None,
    hardware: str | None = None,
    firmware: str | None = None,
    asset: str | None = None,
    q: str | None = None,
    sort: str = "id",
    dir: str = "asc",
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=5, le=200)] = 25,
) -> HTMLResponse:
    now = utcnow()
    query = fleet.DeviceQuery(
        status=status or None,
        state=state or None,
        hardware=hardware or None,
        firmware=firmware or None,
        asset=asset or None,
        q=(q or "").strip() or None,
        sort=sort if sort in fleet.SORTS else "id",
        desc=dir == "desc",
        page=page,
        per_page=per_page,
    )
    rows, total = fleet.device_page(session, query, now=now, policy=settings.presence_policy)
    params = {
        k: v
        for k, v in {
            "status": status,
            "state": state,
            "hardware": hardware,
            "firmware": firmware,
            "asset": asset,
            "q": q,
            "sort": query.sort,
            "dir": dir,
            "per_page": per_page,
        }.items()
        if v
    }

    def link(**change: Any) -> str:
        merged = {**params, **change}
        return "/ui/devices?" + urlencode({k: v for k, v in merged.items() if v not in (None, "")})

    def sort_link(column: str) -> str:
        flip = "desc" if query.sort == column and not query.desc else "asc"
        return link(sort=column, dir=flip, page=1)

    shown = [(d, fleet.shown_status(d, now, settings.presence_policy)) for d in rows]
    pages = max(1, -(-total // per_page))
    return render(
        request,
        "devices.html",
        operator,
        rows=shown,
        total=total,
        query=query,
        pages=pages,
        link=link,
        sort_link=sort_link,
        choices=fleet.choices(session, now=now),
        mounts=fleet.mounts(session, now=now, device_ids=[d.id for d in rows]),
        states=[s.value for s in DeviceState],
        page="devices",
    )


def _byte_unit(values: list[float]) -> tuple[float, str]:
    top = max(values, default=0.0)
    units = ((2**30, "GiB"), (2**20, "MiB"))
    return next(((size, unit) for size, unit in units if top >= size), (1024, "KiB"))


def _heartbeat_charts(samples: list[HeartbeatSample], *, since: datetime, until: datetime) -> list[Markup]:
    """Lag and health over the window, one small chart each, from the stored heartbeat samples."""

    def points(field: str, scale: float = 1.0) -> list[tuple[datetime, float]]:
        pts = [(r.received_at, getattr(r, field) / scale) for r in samples if getattr(r, field) is not None]
        return charts.thin(pts, since=since, until=until)

    def chart(pts: list[tuple[datetime, float]], label: str, unit: str, colour: str, **kw: Any) -> Markup:
        return charts.time_series(pts, since=since, until=until, label=label, unit=unit, colour=colour, **kw)

    lag = charts.thin([(r.received_at, r.lag_s) for r in samples], since=since, until=until, keep="max")
    mem_scale, mem_unit = _byte_unit([float(r.free_mem) for r in samples if r.free_mem is not None])
    disk_scale, disk_unit = _byte_unit([float(r.free_disk) for r in samples if r.free_disk is not None])
    return [
        chart(lag, "heartbeat lag (received − device clock)", "s", "#7a4fb0"),
        chart(points("rssi"), "uplink RSSI", "dBm", "#2f6fb3"),
        chart(points("free_mem", mem_scale), "free memory", mem_unit, "#1a9e5b"),
        chart(points("free_disk", disk_scale), "free disk", disk_unit, "#1a9e5b"),
        chart(points("outbox"), "outbox depth", "messages", "#e0a100"),
        chart(points("temp_dc", 10), "temperature", "°C", "#d64545"),
        chart(points("load_x100", 100), "load", "1-min avg", "#4a535c"),
    ]


def _device_context(
    session: SessionDep, settings: SettingsDep, request: Request, device: Device
) -> dict[str, Any]:
    now = utcnow()
    policy = settings.presence_policy
    since, until = charts.window(now, 24)
    # A young device gets a window from its first evidence (at least 10 min), not a sliver of 24 h.
    if device.created_at is not None and device.created_at > since:
        since = min(device.created_at - timedelta(minutes=1), now - timedelta(minutes=10))
    initial, changes = fleet.status_history(session, device.id, since=since)
    timeline = charts.status_timeline(
        initial, [(c.at, c.to_status, c.reason) for c in changes], since=since, until=until
    )
    batches = fleet.recent_batches(session, device.id)
    b_since = min(
        (datetime.fromtimestamp(b.t0_ms / 1000, now.tzinfo) for b in batches),
        default=now - timedelta(hours=1),
    )
    b_since = min(b_since, now - timedelta(minutes=2))
    obs_chart = charts.time_series(
        [(datetime.fromtimestamp(b.t0_ms / 1000, now.tzinfo), float(b.n_obs)) for b in batches],
        since=b_since,
        until=now,
        label="observations per batch",
        unit="count",
        kind="bar",
        colour="#2f6fb3",
    )
    delivery_chart = charts.time_series(
        [
            (
                datetime.fromtimestamp(b.t0_ms / 1000, now.tzinfo),
                max(
                    0.0, (b.received_at - datetime.fromtimestamp(b.t0_ms / 1000, now.tzinfo)).total_seconds()
                ),
            )
            for b in batches
        ],
        since=b_since,
        until=now,
        label="delivery delay (batch start → stored)",
        unit="s",
        colour="#7a4fb0",
    )
    interval = device.heartbeat_interval_s or policy.default_interval_s
    lag = fleet.heartbeat_lag_s(device, now, policy)
    samples = heartbeats.history(session, device.id, since=since)
    rollouts = _rollouts(request)
    shadow_row = shadow.public(shadow.shadow_of(session, device.id))
    session.rollback()  # shadow_of adds an empty row for a device without one: a read must not keep it
    return {
        "device": device,
        "mount": fleet.mounts(session, now=now, device_ids=[device.id]).get(device.id),
        "shown": fleet.shown_status(device, now, policy),
        "timeline": timeline,
        "changes": list(reversed(changes))[:50],
        "obs_chart": obs_chart,
        "delivery_chart": delivery_chart,
        "lag": lag,
        "interval": interval,
        "gauge": charts.lag_gauge(lag, interval, policy.timeout_factor),
        "heartbeat_charts": _heartbeat_charts(samples, since=since, until=until),
        "samples": len(samples),
        "gaps": reports.gaps(session, device.id, limit=50),
        "completeness": reports.completeness(session, device.id, since=since, until=until),
        "shadow": shadow_row,
        "schema": schema_for(device.hardware),
        "jobs": rollouts.jobs_of_device(session, device.id) if rollouts else None,
        "dead": fleet.dead_letters(session, device_id=device.id, limit=20),
        "states": [s.value for s in DeviceState],
        "page": "devices",
    }


@router.get("/devices/{device_id}")
def device_page(
    device_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    operator: OperatorDep,
    saved: int | None = None,
) -> HTMLResponse:
    try:
        device = get_device(session, device_id=device_id)
    except NotFoundError:
        return render(
            request,
            "error.html",
            operator,
            404,
            title="No such device",
            message=f"There is no device {device_id!r} in the registry.",
        )
    ctx = _device_context(session, settings, request, device)
    desired_text = json.dumps(ctx["shadow"].desired, indent=2, sort_keys=True)
    return render(request, "device.html", operator, desired_text=desired_text, saved=saved, **ctx)


@router.post("/devices/{device_id}/config")
def save_desired(
    device_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    operator: CheckedOperatorDep,
    desired: Annotated[str, Form()],
) -> Response:
    device = get_device(session, device_id=device_id)
    error: dict[str, str] | None = None
    try:
        config = json.loads(desired or "{}")
    except json.JSONDecodeError as e:
        error = {"field": "(document)", "reason": f"not JSON: {e.msg} at line {e.lineno}, column {e.colno}"}
    else:
        if not isinstance(config, dict):
            error = {
                "field": "(document)",
                "reason": 'desired config is a JSON object, e.g. {"heartbeat_s": 60}',
            }
        else:
            try:
                row = shadow.set_desired(session, device=device, config=config, now=utcnow())
                session.commit()
                return RedirectResponse(
                    f"/ui/devices/{device_id}?saved={row.desired_version}#config", status_code=303
                )
            except ConfigInvalidError as e:
                session.rollback()
                error = {"field": e.field, "reason": e.reason}
    device = get_device(session, device_id=device_id)
    ctx = _device_context(session, settings, request, device)
    return render(
        request, "device.html", operator, 422, desired_text=desired, config_error=error, saved=None, **ctx
    )


@router.post("/devices/{device_id}/state")
def change_state(
    device_id: str,
    session: SessionDep,
    operator: CheckedOperatorDep,
    state: Annotated[str, Form()],
) -> Response:
    device = get_device(session, device_id=device_id)
    try:
        update_device(session, device=device, patch=DeviceUpdate(state=DeviceState(state)))
        session.commit()
    except (InvalidStateChangeError, ValueError) as e:
        session.rollback()
        return RedirectResponse(f"/ui/devices/{device_id}?{urlencode({'error': str(e)})}", status_code=303)
    return RedirectResponse(f"/ui/devices/{device_id}", status_code=303)


# ---- rollouts -----------------------------------------------------------------------------------


@router.get("/rollouts")
def rollouts_page(
    request: Request,
    session: SessionDep,
    operator: OperatorDep,
    error: str | None = None,
    done: str | None = None,
) -> HTMLResponse:
    rollouts = _rollouts(request)
    items = rollouts.list(session) if rollouts else None
    return render(
        request,
        "rollouts.html",
        operator,
        rollouts=items,
        error=error,
        done=done,
        page="rollouts",
    )


@router.post("/rollouts/{rollout_id}/{action}")
def control_rollout(
    rollout_id: str,
    action: str,
    request: Request,
    session: SessionDep,
    operator: CheckedOperatorDep,
) -> Response:
    rollouts = _rollouts(request)
    if rollouts is None or action not in ACTIONS:
        return RedirectResponse(
            "/ui/rollouts?" + urlencode({"error": f"cannot {action}: rollouts are not available"}),
            status_code=303,
        )
    try:
        view = rollouts.control(session, rollout_id, action, actor=operator.user.username, now=utcnow())
        session.commit()
    except CloudError as e:
        session.rollback()
        return RedirectResponse("/ui/rollouts?" + urlencode({"error": str(e)}), status_code=303)
    return RedirectResponse(
        "/ui/rollouts?" + urlencode({"done": f"{view.id} is {view.state}"}), status_code=303
    )


# ---- map ----------------------------------------------------------------------------------------


@router.get("/map")
def map_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    operator: OperatorDep,
    hours: Annotated[float, Query(gt=0, le=72)] = 6,
) -> HTMLResponse:
    now = utcnow()
    positions = fleet.tracks(session, since=now - timedelta(hours=hours))
    devices = {
        d.id: d for d in session.exec(fleet.select(Device).where(fleet.col(Device.id).in_(list(positions))))
    }
    tracks = [
        geo.Track(
            name=device_id,
            status=fleet.shown_status(devices[device_id], now, settings.presence_policy)
            if device_id in devices
            else "unknown",
            points=points,
        )
        for device_id, points in sorted(positions.items())
    ]
    return render(
        request, "map.html", operator, svg=geo.render(tracks), tracks=tracks, hours=hours, page="map"
    )
