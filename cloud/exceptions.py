"""Domain errors of the control plane.

The tree is shallow on purpose:

    CloudError
    ├── SettingsError         a flag or MOBILYTICS_* variable has an unusable value
    ├── PortInUseError        a listener's port is taken (names the flag to change it)
    ├── BrokerStartError      the embedded broker could not start for another reason
    ├── BrokerUnavailableError  the broker cannot be reached (aiomqtt's errors, translated)
    ├── NotFoundError         a device (or other resource) that does not exist       -> 404
    ├── ConfigInvalidError    desired config breaks its hardware kind's schema        -> 422
    ├── InvalidStateChangeError  a lifecycle change the registry refuses              -> 409
    ├── AuthError             no/invalid token (401) or missing scope (403)
    ├── OpsUserError          an ops user that cannot be created or changed (bad name, short password)
    ├── ReleaseRejectedError  a release document or artifact fails OTA verification  -> 422
    ├── RootRejectedError     a new root does not chain from the fleet's newest root  -> 422
    ├── ConflictError         the resource exists already, or refuses this transition -> 409
    ├── RangeNotSatisfiableError  a Range outside the artifact                       -> 416
    └── ReleaseStoreError     the artifact store (directory or S3) failed            -> 503

Routes and the CLI turn these into HTTP answers or exit messages at one seam each.
"""

from __future__ import annotations


class CloudError(Exception):
    """Base of every error the control plane raises on purpose."""


class PortInUseError(CloudError):
    """A port the process must listen on is already bound by someone else."""

    def __init__(self, *, what: str, host: str, port: int, flag: str) -> None:
        self.what = what
        self.host = host
        self.port = port
        self.flag = flag
        super().__init__(
            f"{what} cannot listen on {host}:{port}: the port is already in use "
            f"(another MQTT broker or server?). Choose another with {flag} PORT."
        )


class BrokerStartError(CloudError):
    """The embedded MQTT broker failed to start."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"embedded MQTT broker failed to start: {reason}")


class SettingsError(CloudError):
    """A setting (flag or MOBILYTICS_* variable) has a value the cloud cannot use."""

    def __init__(self, name: str, value: str, reason: str) -> None:
        self.name = name
        self.value = value
        self.reason = reason
        super().__init__(f"setting {name}={value!r} is invalid: {reason}")


class NotFoundError(CloudError):
    """A resource the caller named does not exist."""

    def __init__(self, what: str, key: str) -> None:
        self.what = what
        self.key = key
        super().__init__(f"{what} {key!r} not found")


class ConfigInvalidError(CloudError):
    """A desired config document breaks its hardware kind's schema or the protocol's limits."""

    def __init__(self, *, device_id: str, field: str, reason: str) -> None:
        self.device_id = device_id
        self.field = field
        self.reason = reason
        super().__init__(f"desired config for {device_id} is invalid at {field}: {reason}")


class InvalidStateChangeError(CloudError):
    """A lifecycle state change the registry does not allow (e.g. leaving `retired`)."""

    def __init__(self, *, device_id: str, from_state: str, to_state: str) -> None:
        self.device_id = device_id
        self.from_state = from_state
        self.to_state = to_state
        super().__init__(f"device {device_id} cannot go from {from_state} to {to_state}")


class AuthError(CloudError):
    """A request without a valid token (401) or without the scope it needs (403)."""

    def __init__(self, *, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(reason)


class BrokerUnavailableError(CloudError):
    """The MQTT broker could not be reached or dropped the connection."""

    def __init__(self, *, host: str, port: int, reason: str) -> None:
        self.host = host
        self.port = port
        self.reason = reason
        super().__init__(f"MQTT broker {host}:{port} unavailable: {reason}")


class OpsUserError(CloudError):
    """An ops user that cannot be created or changed as asked."""

    def __init__(self, *, username: str, reason: str) -> None:
        self.username = username
        self.reason = reason
        super().__init__(f"ops user {username!r}: {reason}")


class ReleaseRejectedError(CloudError):
    """An uploaded release failed verification; ``error`` names the typed OTA error (BadSignature, ...)."""

    def __init__(self, *, error: str, reason: str, release_id: int | None = None) -> None:
        self.error = error
        self.reason = reason
        self.release_id = release_id
        super().__init__(f"release rejected ({error}): {reason}")


class RootRejectedError(CloudError):
    """An uploaded root is not the verified successor of the fleet's newest root; ``error`` names the
    typed OTA error (BadSignature, ThresholdNotMet, VersionGap, Rollback, Expired, ...)."""

    def __init__(self, *, error: str, reason: str, trusted_version: int) -> None:
        self.error = error
        self.reason = reason
        self.trusted_version = trusted_version
        super().__init__(f"root rejected ({error}) as the successor of root v{trusted_version}: {reason}")


class ConflictError(CloudError):
    """The request conflicts with what exists (a duplicate release, a deployment state change)."""

    def __init__(self, *, what: str, key: str, reason: str) -> None:
        self.what = what
        self.key = key
        self.reason = reason
        super().__init__(f"{what} {key}: {reason}")


class RangeNotSatisfiableError(CloudError):
    """An HTTP Range outside an artifact of ``length`` bytes."""

    def __init__(self, *, header: str, length: int) -> None:
        self.header = header
        self.length = length
        super().__init__(f"range {header!r} is not satisfiable for {length} bytes")


class ReleaseStoreError(CloudError):
    """The artifact store failed (boto3's and the file system's errors, translated at one seam)."""

    def __init__(self, *, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"release store, object {key!r}: {reason}")
