# An OTA job as the device keeps it in flash (otajob.json), shared by the
# app and the update mode. The app only records offers, sends statuses and
# runs the self-test; the update itself (updater.py) runs alone in the heap
# after a reset, because the verifier needs most of 100 KB (protocol/SPEC.md
# 5.5, ota/SPEC.md, firmware/README.md "OTA").
#
# otajob.json: {"job", "version", "url", "metadata": the offer's,
#   "stage": "update" | "rebooting" | "confirming" | None (no job running),
#   "release": [length, sha256] the signed metadata vouched for (updater),
#   "slot": the slot being written (set by the updater),
#   "tries": update-mode attempts, "reason": why the new image gave up,
#   "out": ota_status bodies not yet acknowledged by the broker, in order,
#   "done": the last _DONE finished job ids (an id is acted on at most once)}
#
# Stages across resets: the app takes an offer (stage update, status
# offered) and resets; main.py sees stage update and runs updater.run(),
# which ends the job (failed) or writes the other slot, set_boot()s it,
# then records stage rebooting and resets. At the next boot, running ==
# slot means the new image booted (confirming: self-test, then confirm);
# running != slot with stage rebooting/confirming means the bootloader
# rolled back (the new boot was never confirmed): rolled-back.
import time

import flash

_PATH = "otajob.json"
_DONE = 8
SELF_TEST_S = 120  # device.json "ota": {"self_test_s": ...} overrides


class Job:
    def __init__(self):
        self.d = flash.load(_PATH) or {"stage": None, "out": [], "done": []}
        self.deadline = None  # ticks_ms by which the self-test must pass

    def save(self):
        flash.save(_PATH, self.d)

    def status(self, state, reason=None, progress=None):
        # Queue an ota_status body (sent by the app, in order) and save.
        d = self.d
        b = {"job": d["job"], "state": state, "version": d["version"]}
        if reason is not None:
            b["reason"] = reason[:200]
        if progress is not None:
            b["progress"] = progress
        d["out"].append(b)
        self.save()

    def end(self, state, reason=None):
        d = self.d
        d["done"] = (d["done"] + [d["job"]])[-_DONE:]
        d["stage"] = None
        self.status(state, reason)
        flash.remove("otajournal")

    def take(self, offer):
        # An ota_offer body -> True when the node must reset into update
        # mode. Finished, current and concurrent jobs are ignored.
        d = self.d
        if d["stage"] is not None or offer["job"] in d["done"]:
            return False
        d.update(job=offer["job"], version=offer["version"], url=offer["url"], metadata=offer["metadata"])
        d.update(stage="update", release=None, slot=None, tries=0, reason=None)
        self.status("offered")
        return True

    def boot(self, cause):
        # At the app's start: where a job in flight stands after this boot.
        d = self.d
        if d["stage"] is None:
            return
        import hal

        if hal.slot() == d["slot"]:  # the new image is running, unconfirmed
            if d["stage"] != "confirming":
                d["stage"] = "confirming"
                self.status("confirming")
            s = (flash.load("device.json") or {}).get("ota", {}).get("self_test_s", SELF_TEST_S)
            self.deadline = time.ticks_add(time.ticks_ms(), s * 1000)
        elif d["stage"] != "update":
            self.end(
                "rolled-back",
                d["reason"] or "version %s never confirmed its boot (reset: %s)" % (d["version"], cause),
            )

    def check(self, sent):
        # The self-test, called every second: telemetry acknowledged by the
        # broker (a session opens with its heartbeat, so one went first)
        # commits the image; the deadline passing resets without committing,
        # and the bootloader returns to the previous slot.
        if self.deadline is None:
            return
        import hal

        if sent:
            hal.confirm()
            self.deadline = None
            self.end("succeeded")
        elif time.ticks_diff(time.ticks_ms(), self.deadline) >= 0:
            self.d["reason"] = "self-test failed: no telemetry acknowledged before its deadline"
            self.save()
            hal.reset()


def update_mode():
    # main.py, before the app is loaded: a job waiting for its download runs
    # the updater with the whole heap (it ends in a reset). A job whose
    # slot is already running (power lost after set_boot, before the stage
    # was saved) goes on to the app, which confirms it.
    d = flash.load(_PATH)
    if d is None or d["stage"] != "update":
        return
    import hal

    if d["slot"] is None or hal.slot() != d["slot"]:
        import updater

        updater.run(Job())
