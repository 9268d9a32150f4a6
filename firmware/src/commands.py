# Commands from the cloud (protocol/SPEC.md 5.6): each id runs at most once,
# across resets too (the last ids are kept in flash), and not after it
# expired.
import flash

_PATH = "cmds.json"
_KEEP = 8

PING = "ping"
FLUSH = "flush"
REBOOT = "reboot"
REPORT_CONFIG = "report_config"
KNOWN = (PING, FLUSH, REBOOT, REPORT_CONFIG)


class Commands:
    def __init__(self, path=_PATH):
        self.path = path
        self.done = flash.load(path, [])[-_KEEP:]

    def admit(self, body, now_ms):
        # -> None (run it), or a cmd_reply status: "duplicate" means say
        # nothing, it was handled before.
        if body["id"] in self.done:
            return "duplicate"
        self.done.append(body["id"])
        self.done = self.done[-_KEEP:]
        flash.save(self.path, self.done)
        if "expires" in body and now_ms > body["expires"]:
            return "expired"
        if body["name"] not in KNOWN:
            return "unsupported"
        return None
