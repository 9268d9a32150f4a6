"""Domain errors of the control plane.

The tree is shallow on purpose:

    CloudError
    ├── SettingsError         a flag or MOBILYTICS_* variable has an unusable value
    ├── PortInUseError        a listener's port is taken (names the flag to change it)
    └── BrokerStartError      the embedded broker could not start for another reason

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
