"""`mobilytics-ota`: keys, root role, signing and verification of releases (ota/SPEC.md).

Private keys stay in the signer's files; documents are safe to pass around. Threshold signing:
the first holder runs ``sign ARTIFACT ...`` (or ``root init|rotate``), the next ones run
``sign --document FILE --key THEIR.key``. Errors of ota.exceptions become one red line and exit
code 1 here, and nowhere else. ``publish`` uploads an already-signed document and its artifact to
the cloud's release store (which verifies both against the fleet's newest root), ``root publish`` a
rotated root (which the cloud accepts only as the successor of its newest); no key leaves this machine.
"""

from __future__ import annotations

import hashlib
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from ota import signing
from ota.device.artifact import ArtifactVerifier
from ota.device.metadata import HARDWARE, Release, Root, TrustedRoot, parse_document
from ota.exceptions import OtaError
from ota.keys import SigningKey
from ota.keys import verify as ed25519_verify

app = typer.Typer(
    help="Sign and verify Mobilytics OTA releases (Ed25519, threshold signatures, root key rotation).",
    no_args_is_help=True,
)
root_app = typer.Typer(
    help="Create or rotate the root role (who may sign roots and releases).", no_args_is_help=True
)
app.add_typer(root_app, name="root")

_CHUNK = 64 * 1024
_UNITS = {"d": 86400, "h": 3600}

KeyOpt = Annotated[
    list[Path], typer.Option("--key", "-k", help="Private key file to sign with (repeatable).")
]
ExpiresOpt = Annotated[
    str | None,
    typer.Option(
        help="Expiry: an ISO date/time (UTC unless it says otherwise) or a duration like 30d or 12h."
    ),
]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Where to write the document.")]
ApiOpt = Annotated[str, typer.Option(help="The control plane's API.", envvar="MOBILYTICS_API")]
TokenOpt = Annotated[str | None, typer.Option(help="A write-scoped API token.", envvar="MOBILYTICS_TOKEN")]


def _when(text: str, now: float) -> int:
    m = re.fullmatch(r"(\d+)([dh])", text)
    if m:
        return int(now) + int(m[1]) * _UNITS[m[2]]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is neither an ISO date/time nor a duration like 30d") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def _future(text: str) -> int:
    now = time.time()
    expires = _when(text, now)
    if expires <= now:
        raise typer.BadParameter(f"expiry {text!r} is not in the future")
    return expires


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _public(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise typer.BadParameter(f"{text!r} is not an Ed25519 public key (64 hex digits, as keygen prints)")
    return raw


def _check_artifact(release: Release, artifact: Path) -> None:
    """Stream the file through the device's own verifier: length and SHA-256 as a device checks them."""
    checker = ArtifactVerifier(release)
    with artifact.open("rb") as f:
        while chunk := f.read(_CHUNK):
            checker.update(chunk)
    checker.finish()


def _fail(e: OtaError) -> typer.Exit:
    typer.secho(f"refused ({type(e).__name__}): {e}", fg=typer.colors.RED, err=True)
    return typer.Exit(1)


def _write(path: Path, data: bytes, what: str) -> None:
    path.write_bytes(data)
    _, signatures, _ = parse_document(data)
    typer.echo(f"wrote {what} to {path} ({len(signatures)} signature(s))")


@app.command()
def keygen(
    path: Annotated[Path, typer.Argument(help="New private key file (mode 0600; never overwritten).")],
) -> None:
    """Create an Ed25519 key pair: the private key to PATH, the public key to PATH.pub and stdout."""
    key = SigningKey.generate()
    try:
        key.save(path)
    except OtaError as e:
        raise _fail(e) from None
    public = key.public.hex()
    path.with_name(path.name + ".pub").write_text(public + "\n")
    typer.echo(f"keyid  {key.keyid}\npublic {public}")


@app.command()
def sign(
    key: KeyOpt,
    artifact: Annotated[Path | None, typer.Argument(help="Firmware or agent artifact to release.")] = None,
    document: Annotated[
        Path | None,
        typer.Option(
            help="Add signature(s) to this existing root or release document instead (threshold signing)."
        ),
    ] = None,
    version: Annotated[
        int | None, typer.Option(help="Release version: an integer above every earlier one.")
    ] = None,
    hardware: Annotated[str | None, typer.Option(help="Hardware kind: " + " | ".join(HARDWARE))] = None,
    model: Annotated[str | None, typer.Option(help="Hardware model, exactly as devices report it.")] = None,
    expires: ExpiresOpt = "30d",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Output (default: the document in place, or ARTIFACT.release.json)."
        ),
    ] = None,
) -> None:
    """Create a signed release document for ARTIFACT, or add signatures to --document."""
    try:
        signers = [SigningKey.load(p) for p in key]
        if document is not None:
            if artifact is not None or version is not None or hardware is not None or model is not None:
                raise typer.BadParameter(
                    "--document adds signatures only: give no ARTIFACT, --version, --hardware or --model"
                )
            _write(out or document, signing.sign(document.read_bytes(), signers), "document")
            return
        if artifact is None or version is None or hardware is None or model is None or expires is None:
            raise typer.BadParameter("a new release needs ARTIFACT, --version, --hardware, --model")
        digest = hashlib.sha256()
        length = 0
        with artifact.open("rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
                length += len(chunk)
        release = Release(
            version=version,
            expires=_future(expires),
            hardware=hardware,
            model=model,
            length=length,
            sha256=digest.hexdigest(),
        )
        data = signing.sign(signing.document(release), signers)
        _write(out or artifact.with_name(artifact.name + ".release.json"), data, f"release v{version}")
    except OtaError as e:
        raise _fail(e) from None


@app.command()
def verify(
    path: Annotated[
        Path,
        typer.Argument(help="Release document, or a new root document to check as the successor of --root."),
    ],
    root: Annotated[Path, typer.Option(help="The trusted root document.")],
    artifact: Annotated[Path | None, typer.Option(help="Check this file's length and sha256 too.")] = None,
    hardware: Annotated[
        str | None, typer.Option(help="Check the target's hardware kind (with --model).")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Check the target's model (with --hardware).")] = None,
    installed_version: Annotated[
        int | None, typer.Option(help="Refuse a rollback below this version.")
    ] = None,
    allow_reinstall: Annotated[bool, typer.Option(help="Accept the installed version itself.")] = False,
    at: Annotated[
        str | None, typer.Option(help="Check expiry at this time instead of now (ISO or 30d).")
    ] = None,
) -> None:
    """Verify a document against a trusted root: exit 0 with a summary, or 1 with the reason."""
    now = _when(at, time.time()) if at else int(time.time())
    if (hardware is None) != (model is None):
        raise typer.BadParameter("--hardware and --model go together")
    try:
        trusted = TrustedRoot.from_bytes(root.read_bytes(), ed25519_verify)
        data = path.read_bytes()
        signed, _, _ = parse_document(data)
        if isinstance(signed, dict) and signed.get("_type") == "root":
            new = trusted.update(data).root
            typer.secho(
                f"OK root v{new.version} is a valid successor of root v{trusted.root.version} "
                f"(expires {_iso(new.expires)})",
                fg=typer.colors.GREEN,
            )
            return
        release = trusted.authenticate_release(data, now=now)
        if hardware is not None and model is not None:
            release.check_target(hardware, model)
        if installed_version is not None:
            release.check_version(installed_version, allow_reinstall)
        if artifact is not None:
            _check_artifact(release, artifact)
    except OSError as e:
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    except OtaError as e:
        raise _fail(e) from None
    typer.secho(
        f"OK release v{release.version} for {release.hardware}/{release.model}: {release.length} bytes, "
        f"sha256 {release.sha256}, expires {_iso(release.expires)}"
        + (", artifact matches" if artifact is not None else ""),
        fg=typer.colors.GREEN,
    )


@root_app.command("init")
def root_init(
    root_key: Annotated[list[str], typer.Option(help="Public key (hex) of a root key holder (repeatable).")],
    release_key: Annotated[
        list[str], typer.Option(help="Public key (hex) allowed to sign releases (repeatable).")
    ],
    out: OutOpt,
    root_threshold: Annotated[int, typer.Option(help="Root keys needed to sign a root.")] = 1,
    release_threshold: Annotated[int, typer.Option(help="Release keys needed to sign a release.")] = 1,
    expires: ExpiresOpt = "365d",
    key: KeyOpt = [],  # noqa: B006 (typer reads the default; it is never mutated)
) -> None:
    """Create root v1; sign it with --key here or later with `sign --document`."""
    try:
        new = signing.make_root(
            version=1,
            expires=_future(expires),
            roles={
                "root": ([_public(k) for k in root_key], root_threshold),
                "release": ([_public(k) for k in release_key], release_threshold),
            },
        )
        _write(out, signing.sign(signing.document(new), [SigningKey.load(p) for p in key]), "root v1")
    except OtaError as e:
        raise _fail(e) from None


@root_app.command("rotate")
def root_rotate(
    current: Annotated[Path, typer.Argument(help="The current root document.")],
    out: OutOpt,
    add_root_key: Annotated[list[str], typer.Option(help="Public key (hex) to add to the root role.")] = [],  # noqa: B006
    remove_root_key: Annotated[list[str], typer.Option(help="Key id to drop from the root role.")] = [],  # noqa: B006
    root_threshold: Annotated[int | None, typer.Option(help="New root threshold.")] = None,
    add_release_key: Annotated[
        list[str], typer.Option(help="Public key (hex) to add to the release role.")
    ] = [],  # noqa: B006
    remove_release_key: Annotated[list[str], typer.Option(help="Key id to drop from the release role.")] = [],  # noqa: B006
    release_threshold: Annotated[int | None, typer.Option(help="New release threshold.")] = None,
    expires: ExpiresOpt = "365d",
    key: KeyOpt = [],  # noqa: B006
) -> None:
    """Create the next root version. Devices accept it only when a threshold of the CURRENT root
    keys and a threshold of the NEW root keys sign it: collect both with `sign --document`."""
    try:
        signed, _, _ = parse_document(current.read_bytes())
        old = Root.from_signed(signed)
        roles = {}
        for name, add, remove, threshold in (
            ("root", add_root_key, remove_root_key, root_threshold),
            ("release", add_release_key, remove_release_key, release_threshold),
        ):
            role = old.roles[name]
            unknown = set(remove) - set(role.keyids)
            if unknown:
                raise typer.BadParameter(f"{name} role has no key(s) {', '.join(sorted(unknown))}")
            publics = [old.keys[k] for k in role.keyids if k not in remove] + [_public(k) for k in add]
            roles[name] = (publics, role.threshold if threshold is None else threshold)
        new = signing.make_root(version=old.version + 1, expires=_future(expires), roles=roles)
        data = signing.sign(signing.document(new), [SigningKey.load(p) for p in key])
        _write(out, data, f"root v{new.version}")
    except OtaError as e:
        raise _fail(e) from None


@app.command()
def publish(
    artifact: Annotated[Path, typer.Argument(help="The artifact the document signs.")],
    document: Annotated[
        Path | None, typer.Option(help="Signed release document (default: ARTIFACT.release.json).")
    ] = None,
    api: ApiOpt = "http://127.0.0.1:8000",
    token: TokenOpt = None,
) -> None:
    """Upload a signed release to the cloud: the document first (verified there against the fleet's
    root), then the artifact (verified there while it streams). Only signed data is sent."""
    import httpx

    doc_path = document or artifact.with_name(artifact.name + ".release.json")
    try:
        data = doc_path.read_bytes()
        signed, _, _ = parse_document(data)
        release = Release.from_signed(signed)
        _check_artifact(release, artifact)  # a mismatched pair fails here, before any upload
    except OSError as e:
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    except OtaError as e:
        raise _fail(e) from None

    def chunks():  # type: ignore[no-untyped-def]
        with artifact.open("rb") as f:
            while chunk := f.read(_CHUNK):
                yield chunk

    try:
        with _client(api, token) as client:
            r = client.post("/releases", content=data, headers={"Content-Type": "application/json"})
            if r.status_code == 201:
                rid = r.json()["id"]
                r = client.put(
                    f"/releases/{rid}/artifact",
                    content=chunks(),
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Length": str(release.length),
                    },
                )
    except httpx.HTTPError as e:
        typer.secho(f"error: cannot reach {api}: {e}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    out = _answer(r)
    typer.secho(
        f"OK release {out['id']}: v{out['version']} for {out['hardware']}/{out['model']}, "
        f"{out['length']} bytes\n"
        f"artifact {out['artifact_url']}\nmetadata {out['metadata_url']}",
        fg=typer.colors.GREEN,
    )


@root_app.command("publish")
def root_publish(
    document: Annotated[Path, typer.Argument(help="The next root, signed by the current and new root keys.")],
    api: ApiOpt = "http://127.0.0.1:8000",
    token: TokenOpt = None,
) -> None:
    """Upload the fleet's next root to the cloud. It is accepted only as the successor of the
    cloud's newest root (checked there as devices check it); devices then fetch it before they
    verify their next release, and releases must be signed by its release keys."""
    import httpx

    try:
        data = document.read_bytes()
        signed, _, _ = parse_document(data)
        Root.from_signed(signed)  # not a root at all: refused here, before any upload
    except OSError as e:
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    except OtaError as e:
        raise _fail(e) from None
    try:
        with _client(api, token) as client:
            r = client.post("/releases/roots", content=data, headers={"Content-Type": "application/json"})
    except httpx.HTTPError as e:
        typer.secho(f"error: cannot reach {api}: {e}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    out = _answer(r)
    typer.secho(f"OK root v{out['version']} published: {out['url']}", fg=typer.colors.GREEN)


def _client(api: str, token: str | None):  # type: ignore[no-untyped-def]
    import httpx  # the ota extra's HTTP client; signing and verifying never need it

    if not token:
        raise typer.BadParameter("a write token is needed: --token or MOBILYTICS_TOKEN")
    return httpx.Client(base_url=api.rstrip("/"), headers={"Authorization": f"Bearer {token}"}, timeout=60)


def _answer(r) -> dict:  # type: ignore[no-untyped-def]
    """The cloud's JSON answer, or exit 1 with its refusal (the OTA error's name when it gives one)."""
    if r.status_code >= 300:
        try:
            body = r.json()
        except ValueError:
            body = {"detail": r.text}
        kind = f" ({body['error']})" if "error" in body else ""
        typer.secho(
            f"refused by the cloud{kind}, HTTP {r.status_code}: {body.get('detail')}",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(1)
    return r.json()  # type: ignore[no-any-return]
