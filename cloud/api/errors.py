"""The one place domain errors become HTTP answers."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from cloud.exceptions import (
    AuthError,
    CloudError,
    ConfigInvalidError,
    ConflictError,
    InvalidStateChangeError,
    NotFoundError,
    RangeNotSatisfiableError,
    ReleaseRejectedError,
    ReleaseStoreError,
)
from cloud.identity.exceptions import EnrollmentError, IdentityError


def install(app: FastAPI) -> None:
    @app.exception_handler(CloudError)
    async def _cloud_error(_request: Request, exc: CloudError) -> JSONResponse:
        match exc:
            case AuthError():
                headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if exc.status == 401 else {}
                if exc.status == 403:
                    headers = {"WWW-Authenticate": 'Bearer error="insufficient_scope", scope="write"'}
                return JSONResponse({"detail": exc.reason}, status_code=exc.status, headers=headers)
            case NotFoundError():
                return JSONResponse({"detail": str(exc)}, status_code=404)
            case ConfigInvalidError():
                return JSONResponse(
                    {
                        "detail": [
                            {
                                "loc": ["body", "config", *exc.field.split("/")],
                                "msg": exc.reason,
                                "type": "schema",
                            }
                        ]
                    },
                    status_code=422,
                )
            case InvalidStateChangeError():
                return JSONResponse({"detail": str(exc)}, status_code=409)
            case ReleaseRejectedError():
                return JSONResponse({"detail": exc.reason, "error": exc.error}, status_code=422)
            case ConflictError():
                return JSONResponse({"detail": str(exc)}, status_code=409)
            case RangeNotSatisfiableError():
                return JSONResponse(
                    {"detail": str(exc)}, status_code=416, headers={"Content-Range": f"bytes */{exc.length}"}
                )
            case ReleaseStoreError():
                return JSONResponse({"detail": str(exc)}, status_code=503)
            case EnrollmentError():
                # 403 with a stable reason code the provisioning CLI shows (unknown/expired/used/...).
                return JSONResponse(
                    {"detail": {"reason": exc.reason, "message": exc.detail}}, status_code=403
                )
            case IdentityError():
                return JSONResponse({"detail": {"reason": "identity", "message": str(exc)}}, status_code=422)
        return JSONResponse({"detail": str(exc)}, status_code=500)
