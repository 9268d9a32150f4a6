"""Running an export: build the artifact, upload it resumably, record what happened.

    run_export(engine, store, spec, build, now)

1. The export's row is found or created by its key (partner/campaign/segment/period). A
   `complete` or `confirmed` export is returned as is: running it again uploads nothing.
2. `build()` makes the artifact (pure, deterministic) or says why it is withheld; withheld is
   recorded with the reason and nothing is uploaded.
3. Each file goes to `<partner>/<campaign>/<period>/<segment>/<name>`. A file already in S3 with
   the same sha256 is skipped. Small files are one PUT; large ones a multipart upload whose id and
   finished parts are committed to the row after every part, so after a crash the next run asks
   S3 which parts it holds, uploads the rest and completes the same upload. A stale upload (other
   bytes) is aborted. So a crash and a re-run leave one complete export and no dangling uploads.
4. The manifest goes last (row count, sha256 per file, schema version): a manifest in S3 means
   the export is whole. Then the row is `complete`.

S3 refusals (`ObjectStoreError`, e.g. AccessDenied from a bucket policy) mark the row `failed`
with the code and message; the next run retries from the recorded state.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from cloud.exports.artifacts import Artifact, File, Withheld
from cloud.exports.exceptions import ObjectStoreError
from cloud.exports.models import ExportStatus, PartnerExport
from cloud.exports.s3 import ObjectStore

# Called after each uploaded part (file name, part number): a seam for progress and crash tests.
PartHook = Callable[[str, int], None]

DONE = {ExportStatus.COMPLETE, ExportStatus.CONFIRMED}


@dataclass(frozen=True, slots=True)
class ExportSpec:
    partner: str
    campaign_id: str
    segment: str
    period: str  # e.g. "2026-11-23" (a UTC day) or "2026-11-01..2026-11-30"
    schema_version: str

    @property
    def key(self) -> str:
        return f"{self.partner}/{self.campaign_id}/{self.segment}/{self.period}"

    def object_key(self, name: str) -> str:
        return f"{self.partner}/{self.campaign_id}/{self.period}/{self.segment}/{name}"

    @property
    def manifest_key(self) -> str:
        return self.object_key("manifest.json")


def _row(session: Session, spec: ExportSpec, now: datetime) -> PartnerExport:
    row = session.exec(select(PartnerExport).where(PartnerExport.export_key == spec.key)).first()
    if row is not None:
        return row
    row = PartnerExport(
        export_key=spec.key,
        partner=spec.partner,
        campaign_id=spec.campaign_id,
        segment=spec.segment,
        period=spec.period,
        status=ExportStatus.RUNNING,
        schema_version=spec.schema_version,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    try:
        session.commit()
    except IntegrityError:  # another replica created it first
        session.rollback()
        return session.exec(select(PartnerExport).where(PartnerExport.export_key == spec.key)).one()
    return row


def _save_state(session: Session, row: PartnerExport, state: dict[str, Any]) -> None:
    row.upload_state = {k: dict(v) for k, v in state.items()}  # a new object: JSON columns track by value
    session.add(row)
    session.commit()


def _multipart(
    session: Session,
    store: ObjectStore,
    row: PartnerExport,
    key: str,
    f: File,
    part_size: int,
    on_part: PartHook | None,
) -> None:
    state: dict[str, Any] = dict(row.upload_state or {})
    entry = state.get(key)
    parts: dict[int, str] = {}
    if entry and entry.get("sha256") == f.sha256:
        held = store.uploaded_parts(key, entry["upload_id"])
        if held is None:
            entry = None  # S3 no longer knows the upload (aborted, expired): start over
        else:
            parts = held
    elif entry:
        store.abort_multipart(key, entry["upload_id"])  # bytes changed since: that upload is void
        entry = None
    if not entry:
        upload_id = store.start_multipart(key, sha256=f.sha256, content_type=f.content_type)
        entry = {"upload_id": upload_id, "sha256": f.sha256, "parts": {}}
        state[key] = entry
        _save_state(session, row, state)
    n_parts = max(1, -(-len(f.body) // part_size))
    for n in range(1, n_parts + 1):
        if n in parts:
            continue
        parts[n] = store.upload_part(key, entry["upload_id"], n, f.body[(n - 1) * part_size : n * part_size])
        entry = {**entry, "parts": {str(k): v for k, v in parts.items()}}
        state[key] = entry
        _save_state(session, row, state)
        if on_part is not None:
            on_part(f.name, n)
    store.complete_multipart(key, entry["upload_id"], parts)
    state.pop(key, None)
    _save_state(session, row, state)


def run_export(
    engine: Engine,
    store: ObjectStore,
    spec: ExportSpec,
    build: Callable[[], Artifact | Withheld],
    *,
    now: datetime,
    part_size: int = 8 * 1024 * 1024,
    on_part: PartHook | None = None,
) -> PartnerExport:
    with Session(engine, expire_on_commit=False) as session:
        row = _row(session, spec, now)
        if row.status in DONE:
            return row
        row.attempts += 1
        row.status = ExportStatus.RUNNING
        row.updated_at = now
        session.add(row)
        session.commit()
        artifact = build()
        if isinstance(artifact, Withheld):
            row.status = ExportStatus.WITHHELD
            row.reason = artifact.reason
            row.objects, row.row_count, row.manifest_key = {}, 0, None
            session.add(row)
            session.commit()
            return row
        keys = {f.name: spec.object_key(f.name) for f in artifact.files}
        try:
            for f in artifact.files:
                key = keys[f.name]
                if store.sha256_of(key) == f.sha256:
                    continue  # already there, byte for byte (an earlier run got this far)
                if len(f.body) > part_size:
                    _multipart(session, store, row, key, f, part_size, on_part)
                else:
                    store.put(key, f.body, sha256=f.sha256, content_type=f.content_type)
            header = {
                "partner": spec.partner,
                "campaign_id": spec.campaign_id,
                "segment": spec.segment,
                "period": spec.period,
            }
            manifest = artifact.manifest(keys=keys, header=header)
            store.put(
                spec.manifest_key,
                manifest,
                sha256=hashlib.sha256(manifest).hexdigest(),
                content_type="application/json",
            )
        except ObjectStoreError as e:
            row.status = ExportStatus.FAILED
            row.reason = f"{e.code}: {e.reason} ({e.operation} {e.key})"[:1024]
            row.updated_at = now
            session.add(row)
            session.commit()
            return row
        row.status = ExportStatus.COMPLETE
        row.reason = None
        row.objects = {keys[f.name]: f.sha256 for f in artifact.files}
        row.manifest_key = spec.manifest_key
        row.row_count = artifact.row_count
        row.schema_version = artifact.schema_version
        row.completed_at = now
        row.updated_at = now
        session.add(row)
        session.commit()
        return row
