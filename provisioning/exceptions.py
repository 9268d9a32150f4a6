"""Errors the technician sees. Each says what failed, where, and what to do.

ProvisionError
├── StateError          the state file is missing a step's prerequisite (run that step first)
├── ToolError           esptool / mpremote / ssh / pip failed: ``tool``, ``returncode``, ``output``
│   └── PortError       the serial port cannot be opened (unplugged, in use, no permission)
├── ImageError          a MicroPython image or firmware bundle is unusable
└── CloudError          the cloud refused or cannot be reached: ``status``, ``reason``
    └── EnrollmentRefused  the token was refused: ``reason`` unknown/expired/used/revoked/mismatch
"""

from __future__ import annotations


class ProvisionError(Exception):
    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint


class StateError(ProvisionError):
    pass


class ToolError(ProvisionError):
    def __init__(
        self, tool: str, argv: list[str], returncode: int | None, output: str, *, hint: str | None = None
    ):
        self.tool = tool
        self.argv = argv
        self.returncode = returncode
        self.output = output
        tail = "\n".join(output.strip().splitlines()[-8:])
        super().__init__(f"{tool} failed (exit {returncode}): {' '.join(argv)}\n{tail}", hint=hint)


class PortError(ToolError):
    hint = (
        "check the cable, that no other program (a serial monitor) holds the port, and permissions (dialout)"
    )


class ImageError(ProvisionError):
    pass


class CloudError(ProvisionError):
    def __init__(
        self, message: str, *, status: int | None = None, reason: str | None = None, hint: str | None = None
    ):
        self.status = status
        self.reason = reason
        super().__init__(message, hint=hint)


class EnrollmentRefused(CloudError):
    hint = "ask ops for a new enrollment token (POST /enrollments); tokens are single-use and expire"
