# An OTA job as the device keeps it in flash, shared by the app and the
# update mode. The app records offers, sends statuses and runs the
# self-test; the update itself (updater.py) runs alone in the heap after a
# reset, because the verifier needs most of 100 KB (protocol/SPEC.md 5.5,
# ota/SPEC.md, firmware/README.md "OTA").
#
# Loaded by main.py, before the app and while the heap is in one piece,
# only when there is OTA work (otajob.json exists): a
# running node at 100K has no piece left for it, and every name here is a
# qstr for good (firmware/README.md, "Heap"). The app itself only saves an
# offer it does not know as finished and resets.
#
# otajob.json, while a job is in flight or its statuses are unsent:
#   {"job", "version", "url", "metadata": the offer's,
#    "stage": "update" | "rebooting" | "confirming" | None (ended),
#    "release": [length, sha256] the signed metadata vouched for (updater),
#    "slot": the slot being written (updater), "tries": update attempts,
#    "reason": why the new image gave up its self-test}
# otaout.jsonl: ota_status bodies the app sends (in order) at its next
# connect or while it runs, then removes; otadone.json: the last _KEEP
# finished job ids (an id is acted on once).
#
# Stages across resets: the app saves an offer and resets; main.py takes
# it (stage update, status offered) and runs the updater,
# which ends the job (failed) or writes the other slot, set_boot()s it,
# records stage rebooting and resets. At the next boot, running == slot
# means the new image booted (confirming: self-test, then confirm);
# running != slot with stage rebooting/confirming means the bootloader
# rolled back (the new boot was never confirmed): rolled-back.
import json
import time

import esp32  # the OTA slots; the OTA modules are hal's for them (the node never loads them)
import flash
import hal

_PATH = "otajob.json"  # a job in flight, or {"offer": body} from app.py: main.py loads this module
_DONE = "otadone.json"  # app.py reads it too, to leave finished offers alone
_OUT = "otaout.jsonl"  # ota_status bodies, one a line, sent in order by app.py, which removes the file
_KEEP = 8
SELF_TEST_S = 120  # device.json "ota": {"self_test_s": ...} overrides


class Job:
    def __init__(self, d):
        self.d = d
        self.deadline = None  # ticks_ms by which the self-test must pass

    def save(self):
        flash.save(_PATH, self.d)

    def status(self, state, reason=None, progress=None):
        # Queue an ota_status body for the app (otaout.jsonl), then save.
        d = self.d
        b = {"job": d["job"], "state": state, "version": d["version"]}
        if reason is not None:
            b["reason"] = reason[:200]
        if progress is not None:
            b["progress"] = progress
        with open(_OUT, "a") as f:
            f.write(json.dumps(b) + "\n")
        self.save()

    def end(self, state, reason=None):
        flash.save(_DONE, (flash.load(_DONE, []) + [self.d["job"]])[-_KEEP:])
        self.d["stage"] = None
        self.status(state, reason)
        flash.remove(_PATH)  # after the status: a power cut in between re-ends the job
        flash.remove("otajournal")

    def poll(self, sent):
        # The self-test, every second from the app's watch task: telemetry
        # acknowledged by the broker (a session opens with its heartbeat, so
        # one went first) commits the image (-> True: the job ended); the
        # deadline passing resets without committing, and the bootloader
        # returns to the old slot.
        if sent:
            esp32.Partition.mark_app_valid_cancel_rollback()
            self.end("succeeded")
            return True
        if time.ticks_diff(time.ticks_ms(), self.deadline) >= 0:
            self.d["reason"] = "self-test failed: no telemetry acknowledged before its deadline"
            self.save()
            hal.reset()


def _running():
    return esp32.Partition(esp32.Partition.RUNNING).info()[4]


def main():
    # main.py, before the app is loaded, when otajob.json exists. An offer
    # the app saved becomes the job; a job waiting for its download runs the
    # updater with the whole heap (it ends in a reset); a
    # job whose slot is already running (power lost after set_boot, before
    # the stage was saved) is confirming. -> the Job for the app (None once
    # nothing is left to do).
    d = flash.load(_PATH)
    if d is None:
        return None
    if "offer" in d:  # {"offer": body}: saved by the app, no job in flight
        job = _take(d["offer"])
        if job is None:
            flash.remove(_PATH)
            return None
    else:
        job = Job(d)
    d = job.d
    stage = d["stage"]
    if _running() == d["slot"]:  # the new image runs, unconfirmed
        if stage != "confirming":
            d["stage"] = "confirming"
            job.status("confirming")
        s = (flash.load("device.json") or {}).get("ota", {}).get("self_test_s", SELF_TEST_S)
        job.deadline = time.ticks_add(time.ticks_ms(), s * 1000)
    elif stage == "update":
        import updater

        updater.run(job)
    else:
        job.end(
            "rolled-back",
            d["reason"]
            or "version %s never confirmed its boot (reset: %s)" % (d["version"], hal.reset_cause()),
        )
        hal.reset()  # the app starts without this module; it sends otaout.jsonl
    return job


def _take(offer):
    # The offer body the app saved -> the new Job, or None if this job
    # finished already (the app checked too; this covers a power cut).
    if offer["job"] in flash.load(_DONE, []):
        return None
    d = {"job": offer["job"], "version": offer["version"], "url": offer["url"], "metadata": offer["metadata"]}
    d.update(stage="update", release=None, slot=None, tries=0, reason=None)
    job = Job(d)
    job.status("offered")
    return job
