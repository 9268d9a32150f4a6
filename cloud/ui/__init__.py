"""The ops fleet UI: server-rendered pages under /ui, live updates over SSE, sign-in for ops users.

`mount(app)` adds it to the control plane's FastAPI app. Every asset is served from `static/`
(no CDN). Layout: `pages.py` (routes and templates), `live.py` (SSE), `session.py` (sign-in and
CSRF), `fleet.py` (what the pages read), `charts.py` / `geo.py` (inline SVG, pure),
`rollouts.py` (the seam to OTA rollouts), `screenshots.py` (`python -m cloud.ui.screenshots OUTDIR`).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from cloud.ui.rollouts import Rollouts, discover
from cloud.ui.session import CsrfRejected, LoginRequired

STATIC = Path(__file__).parent / "static"


def mount(app: FastAPI, *, rollouts: Rollouts | None = None) -> None:
    from cloud.ui import live, pages

    app.state.ui_rollouts = rollouts if rollouts is not None else discover()
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")
    app.include_router(pages.router)
    app.include_router(live.router)

    @app.exception_handler(LoginRequired)
    async def _login(_request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(exc.next_url, status_code=303)

    @app.exception_handler(CsrfRejected)
    async def _csrf(request: Request, _exc: CsrfRejected) -> Response:
        return pages.render(
            request,
            "error.html",
            None,
            403,
            title="Form expired",
            message="This form's security token is missing or stale. Reload the page and try again.",
        )

    @app.get("/", include_in_schema=False)
    def _root() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=307)
