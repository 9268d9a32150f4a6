# An OTA job as the device keeps it in flash, from the offer the app saved
# to its last status. Loaded by main.py before the app, and only when there
# is OTA work (otajob.json exists): it takes the offer and runs the update
# mode (updater.py, alone in the heap: the verifier needs most of 100 KB,
# protocol/SPEC.md 5.5, ota/SPEC.md, firmware/README.md "OTA"), reports a
# rollback, or at the new image's first boot queues `confirming` and gives
# the app its self-test's deadline. main.py then drops this module, so that
# the node's heap holds no OTA code but the app's own self-test (app.py
# `_confirm`); the names here stay as qstrs (firmware/README.md, "Heap").
#
# otajob.json, while a job is in flight:
#   {"job", "version", "url", "metadata": the offer's,
#    "stage": "update" | "rebooting" | "confirming" | None (ended),
#    "release": [length, sha256] the signed metadata vouched for (updater),
#    "slot": the slot being written (updater), "tries": update attempts}
# otaout.jsonl: ota_status bodies the app sends (in order) at its next
# connect, then removes; otadone.json: the last _KEEP job ids taken (an id
# is acted on once).
#
# Stages across resets: the app saves an offer and resets; main.py takes it
# (stage update, status offered) and runs the updater, which ends the job
# (failed) or writes the other slot, set_boot()s it, records stage rebooting
# and resets. At the next boot, a slot written and this firmware's VERSION
# being the job's mean the new image booted (what was written is a release
# verified newer than the old image, so only it has that version; before
# the download an offer's version is not checked yet): confirming, the app
# runs the self-test, then confirms the image, reports succeeded and ends
# the job. Another version with stage rebooting or confirming means the
# bootloader rolled back (the new boot was never confirmed): rolled-back.
# Nothing here asks esp32 which slot runs: on the host its stand-in is not
# C, and only the app's self-test loads it.
import json
import time

import flash
import hal
from version import VERSION

_PATH = "otajob.json"  # a job in flight, or {"offer": body} from app.py: main.py loads this module
_DONE = "otadone.json"  # app.py reads it too, to leave taken offers alone
_OUT = "otaout.jsonl"  # ota_status bodies, one a line, sent in order by app.py, which removes the file
_KEEP = 8
SELF_TEST_S = 120  # device.json "ota": {"self_test_s": ...} overrides


class Job:
    def __init__(self, d):
        self.d = d

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
        self.d["stage"] = None
        self.status(state, reason)
        flash.remove(_PATH)  # after the status: a power cut in between re-ends the job
        flash.remove("otajournal")


def main():
    # main.py, before the app is loaded, when otajob.json exists. An offer
    # the app saved becomes the job; a job waiting for its download runs the
    # updater with the whole heap (it ends in a reset); a job whose image
    # runs (also when power was lost after set_boot, before the stage was
    # saved) is confirming; any other was rolled back (reported, then a
    # reset). -> the self-test's deadline (ticks_ms) for the app, or None
    # if the file holds no job (torn by a power cut).
    d = flash.load(_PATH)
    if d is None:
        return None
    if "offer" in d:  # {"offer": body}: saved by the app, no job in flight
        job = _take(d["offer"])
    else:
        job = Job(d)
    d = job.d
    if d["slot"] and d["version"] == VERSION:  # the new image runs, unconfirmed
        if d["stage"] != "confirming":
            d["stage"] = "confirming"
            job.status("confirming")
        s = (flash.load("device.json") or {}).get("ota", {}).get("self_test_s", SELF_TEST_S)
        return time.ticks_add(time.ticks_ms(), s * 1000)
    if d["stage"] == "update":
        import updater

        updater.run(job)  # ends in a reset
    # The bootloader went back to this image. The new one ended its boot
    # itself (a soft reset: its self-test's deadline passed, or it crashed),
    # or the power or the watchdog ended it.
    cause = hal.reset_cause()
    if cause == "soft":
        reason = "self-test failed: version %s reset before it confirmed its boot" % d["version"]
    else:
        reason = "version %s never confirmed its boot (reset: %s)" % (d["version"], cause)
    job.end("rolled-back", reason)
    hal.reset()  # the app starts without this module; it sends otaout.jsonl


def _take(offer):
    # The offer body the app saved (of a job not taken before: it checked)
    # -> the new Job. Its id is recorded as taken first: a power cut before
    # the job is saved takes the offer again.
    done = flash.load(_DONE, [])
    if offer["job"] not in done:
        flash.save(_DONE, (done + [offer["job"]])[-_KEEP:])
    d = {"job": offer["job"], "version": offer["version"], "url": offer["url"], "metadata": offer["metadata"]}
    d.update(stage="update", release=None, slot=None, tries=0)
    job = Job(d)
    job.status("offered")
    return job
