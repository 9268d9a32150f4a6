"""Root rotation as a device follows it: where roots are published, and the walk N -> N+1 -> ...

A device starts from the newest root it holds (the one it shipped with, or one it accepted and
stored since) and, before it verifies a release, asks the release's server for the next root
versions one at a time until there is none, exactly as python-tuf's ``Updater._load_root`` does.
Each one must pass ``TrustedRoot.update``; the device keeps each as soon as it passed, so an error
further along leaves it on the last good root, never on an unchecked one. The network and the
storage are passed in (``fetch``, ``keep``); this module does no I/O (ota/SPEC.md, "Delivering
roots").
"""

from ota.device.metadata import Root, TrustedRoot, parse_document
from ota.exceptions import OtaError

# Roots applied in one walk at most (python-tuf's max_root_rotations is 32 too): a server cannot
# keep a device verifying forever; the next offer continues from where this walk stopped.
MAX_ROTATIONS = 32


def root_url(metadata_url: str, version: int) -> str:
    """Where root ``version`` is published: a release's metadata is ``<repository>/<id>/metadata``
    and the roots are beside the releases, ``<repository>/roots/<version>.json``."""
    return metadata_url.rsplit("/", 2)[0] + "/roots/" + str(version) + ".json"


def newest(documents, verify) -> TrustedRoot:
    """The highest-version root among ``documents`` (bytes, or None for a copy the device does not
    have) that loads with its own threshold. Versions are read first and only the chosen root's
    signatures verified, so an ESP32's heap holds one parsed root while they are. A damaged
    stored copy is passed over: the walk fetches its successors again. The last error when none
    loads."""
    ranked = []
    error = OtaError("no root")
    for data in documents:
        if data is not None:
            try:
                ranked.append((Root.from_signed(parse_document(data)[0]).version, data))
            except OtaError as e:
                error = e
    ranked.sort(key=lambda entry: entry[0], reverse=True)
    for _, data in ranked:
        try:
            return TrustedRoot.from_bytes(data, verify)
        except OtaError as e:
            error = e
    raise error


def follow(trusted: TrustedRoot, fetch, keep) -> TrustedRoot:
    """The newest root reachable from ``trusted``, one version at a time.

    ``fetch(version)`` is the document published as that version, or None when there is none (an
    HTTP 404): the end of the chain. ``keep(trusted, data)`` stores a root (the TrustedRoot and its
    document) the moment it was accepted. A refused root raises its OtaError (BadSignature,
    ThresholdNotMet, Rollback, VersionGap, MalformedDocument) and the roots before it stay kept.
    """
    for _ in range(MAX_ROTATIONS):
        data = fetch(trusted.root.version + 1)
        if data is None:
            break
        trusted = trusted.update(data)
        keep(trusted, data)
    return trusted
