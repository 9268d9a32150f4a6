# Update mode: one OTA job's download and install, run by main.py (through
# otajob.main) before the app is loaded, with the whole heap: the
# verifier needs most of 100 KB, the app too, so they never share it. Two
# boots, because the Ed25519 and metadata modules and the download's
# buffers did not fit 100 KB together either (the MemoryErrors came in
# sha512 and at the block buffer, depending on fragmentation):
#
#   1. (both boots) WiFi and a trusted clock;
#   2. first boot: the root rotations published beside the release, from
#      the newest root this device holds (otaroot.py shipped in this
#      firmware, or otaroot.json kept from an earlier walk): N+1, N+2, ...
#      until a 404, each accepted by TrustedRoot.update and kept in flash at
#      once (ota/SPEC.md, "Delivering roots"); then the signed metadata,
#      checked against the newest root: threshold, expiry, target esp32 +
#      model, version newer than this firmware's; its length and sha256 are
#      recorded in otajob.json, and the device resets;
#   3. second boot: the artifact over HTTP into the other slot, resumed
#      with a Range from the journal (the prefix already in the slot is
#      re-hashed first), streamed through one block buffer, its length and
#      sha256 checked as it streams (a block past the signed length is
#      never written), the journal saved after every block;
#   4. set_boot, stage rebooting, reset.
# A refusal (ota.exceptions) ends the job `failed` and the device stays on
# this firmware; any other error (network, memory) retries from the journal
# at the next boot, _TRIES attempts in all, then `failed`. Statuses are
# queued in otaout.jsonl: the app sends them after the reset.
import gc
import socket
import sys
import time

import esp32  # the OTA slots (see otajob.py)
import flash
import hal
from micropython import const
from version import VERSION

from ota.exceptions import MalformedDocument, OtaError

_BLOCK = const(4096)
_TRIES = const(3)
_JOURNAL = "otajournal"
_MAX_DOC = const(16384)  # ota/SPEC.md's limit on a document
_ROOT = "otaroot.json"  # the newest root a walk accepted, as signed


class _Missing(OSError):
    # An HTTP 404: for a root, the end of the walk.
    pass


def run(job):
    # Collect every few KB, as the app does: the verifier's big integers are
    # short-lived, and left to pile up they split the heap into pieces too
    # small for the next buffer.
    gc.threshold(4096)
    d = job.d
    d["tries"] += 1
    job.save()
    try:
        dev = flash.load("device.json")
        _online(dev.get("wifi", {}))
        if d["release"] is None:
            _verify(job, dev.get("ota", {}).get("model"))
        else:
            _install(job)
    except Exception as e:
        reason = "%s: %s" % (type(e).__name__, e)
        print("ota: update attempt", d["tries"], "failed:", reason)
        sys.print_exception(e)
        if isinstance(e, (OtaError, ImportError)) or d["tries"] >= _TRIES:
            job.end("failed", reason)
    hal.reset()


def _online(wifi):
    w = hal.Wifi()
    w.connect(wifi.get("ssid", ""), wifi.get("psk", ""))
    for _ in range(100):
        if w.isconnected():
            break
        time.sleep_ms(100)
    if not w.isconnected() or not hal.sync_clock():
        raise OSError("no network or no clock")


def _verify(job, model):
    # First boot of the update: the roots, then the signed metadata against
    # the newest. What it vouches for is recorded in flash (as trusted as
    # this code) and the next boot downloads with the heap the verifier's
    # modules no longer take.
    from otaroot import ROOT  # ImportError: this firmware trusts no root

    from ota.device import ed25519
    from ota.device.metadata import verify_release
    from ota.device.roots import follow, newest, root_url

    url = job.d["metadata"]
    trusted = newest((ROOT, _stored_root()), ed25519.verify)
    ROOT = None
    del sys.modules["otaroot"]  # its ~1 KB document, loaded now, for the signatures' heap
    trusted = follow(trusted, lambda v: _document(root_url(url, v), True), _keep_root)
    gc.collect()
    doc = _document(url, False)
    r = verify_release(
        trusted, doc, now=hal.now_ms() // 1000, installed_version=int(VERSION), hardware="esp32", model=model
    )
    job.d.update(release=[r.length, r.sha256], tries=0)
    job.save()
    v = trusted.root.version
    trusted = doc = None
    gc.collect()
    print(
        "ota: release %d verified with root v%d, heap used %d free %d"
        % (r.version, v, gc.mem_alloc(), gc.mem_free())
    )


def _stored_root():
    try:
        with open(_ROOT, "rb") as f:
            return f.read()
    except OSError:
        return None


def _keep_root(trusted, data):
    flash.save(_ROOT, data)


def _document(url, missing_ok):
    # A signed document, read whole once its length is known to be within
    # the spec's limit (no 16 KB piece on a busy heap); None for a 404 when
    # missing_ok.
    try:
        s, n = _get(url, 0)
    except _Missing:
        if missing_ok:
            return None
        raise
    try:
        if n is None or n > _MAX_DOC:
            raise MalformedDocument("document of %s bytes (at most %d)" % (n, _MAX_DOC))
        doc = s.read(n)
    finally:
        s.close()
    s = None
    gc.collect()  # the socket's buffers, before the document is parsed and verified
    return doc


class _Signed:
    # The verified facts the artifact is checked against (ArtifactVerifier's
    # `release`), from otajob.json: [length, sha256].
    def __init__(self, facts):
        self.length, self.sha256 = facts


def _install(job):
    # Second boot: the artifact into the other slot, then set_boot.
    d = job.d
    release = _Signed(d["release"])
    part = esp32.Partition(esp32.Partition.RUNNING).get_next_update()
    info = part.info()
    if release.length > info[3]:
        job.end("failed", "artifact of %d bytes exceeds the %d-byte slot" % (release.length, info[3]))
        return
    d["slot"] = info[4]
    job.save()
    _download(release, part, d["url"])
    gc.collect()
    # A console line for the serial log and the tests: the heap the download needed.
    print(
        "ota: %d bytes verified in %s, heap used %d free %d"
        % (release.length, info[4], gc.mem_alloc(), gc.mem_free())
    )
    job.status("downloading", progress=100)
    job.status("verifying")
    job.status("installing")
    part.set_boot()
    d["stage"] = "rebooting"
    job.status("rebooting")


def _download(release, part, url):
    from ota.device.artifact import ArtifactVerifier, journal_entry, resume_offset

    v = ArtifactVerifier(release)
    buf = bytearray(_BLOCK)
    mv = memoryview(buf)
    try:
        with open(_JOURNAL, "rb") as f:
            offset = resume_offset(release, f.read())
    except OSError:
        offset = 0
    if offset < release.length:
        offset -= offset % _BLOCK  # blocks are written whole
    block = 0
    while block * _BLOCK < offset:  # re-hash what the slot already holds
        part.readblocks(block, buf)
        v.update(mv[: min(_BLOCK, offset - block * _BLOCK)])
        block += 1
    if offset < release.length:
        s = _get(url, offset)[0]
        try:
            while True:
                n = _fill(s, mv)
                if not n:
                    break
                v.update(mv[:n])  # LengthMismatch before a byte past the length is written
                for i in range(n, _BLOCK):
                    buf[i] = 0xFF  # the last block's tail stays erased
                part.writeblocks(block, buf)
                block += 1
                with open(_JOURNAL, "wb") as f:
                    f.write(journal_entry(release, v.received))
                if n < _BLOCK:
                    break
        finally:
            s.close()
    v.finish()


def _fill(s, mv):
    # Read into mv until it is full or the body ends; the byte count.
    n = 0
    while n < len(mv):
        r = s.readinto(mv[n:])
        if not r:
            break
        n += r
    return n


def _get(url, offset):
    # HTTP/1.0 GET of an http:// URL from byte `offset` (a Range when > 0):
    # (socket positioned at the body, Content-Length or None). The body ends
    # when the server closes (1.0: never chunked). A 200 to a Range would
    # restart the artifact: refused.
    if not url.startswith("http://"):
        raise ValueError("not an http:// URL: " + url)
    host, _, path = url[7:].partition("/")
    host, _, port = host.partition(":")
    ai = socket.getaddrinfo(host, int(port or 80))[0]
    s = socket.socket(ai[0], socket.SOCK_STREAM)
    try:
        s.settimeout(30)
        s.connect(ai[-1])
        s.write("GET /%s HTTP/1.0\r\nHost: %s\r\n" % (path, host))
        if offset:
            s.write("Range: bytes=%d-\r\n" % offset)
        s.write("\r\n")
        code = int(s.readline().split()[1])
        n = None
        while True:
            line = s.readline()
            if line in (b"\r\n", b""):
                break
            if line[:15].lower() == b"content-length:":
                n = int(line[15:])
        if code == 404:
            raise _Missing("HTTP 404 for " + url)
        if code != (206 if offset else 200):
            raise OSError("HTTP %d for %s" % (code, url))
    except BaseException:
        s.close()
        raise
    return s, n
