# An OTA job as the device keeps it in flash, shared by the app and the
# update mode. The app records offers, sends statuses and runs the
# self-test; the update itself (updater.py) runs alone in the heap after a
# reset, because the verifier needs most of 100 KB (protocol/SPEC.md 5.5,
# ota/SPEC.md, firmware/README.md "OTA").
#
# Loaded only while there is OTA work (an offer came, or otajob.json
# exists): every name here is a qstr for good, and the app's qstr table
# has no room to spare (firmware/README.md, "Heap").
#
# otajob.json, while a job is in flight or its statuses are unsent:
#   {"job", "version", "url", "metadata": the offer's,
#    "stage": "update" | "rebooting" | "confirming" | None (ended),
#    "release": [length, sha256] the signed metadata vouched for (updater),
#    "slot": the slot being written (updater), "tries": update attempts,
#    "reason": why the new image gave up its self-test,
#    "out": ota_status bodies not yet acknowledged by the broker, in order}
# otadone.json: the last _KEEP finished job ids (an id is acted on once).
#
# Stages across resets: the app takes an offer (stage update, status
# offered) and resets; main.py sees stage update and runs the updater,
# which ends the job (failed) or writes the other slot, set_boot()s it,
# records stage rebooting and resets. At the next boot, running == slot
# means the new image booted (confirming: self-test, then confirm);
# running != slot with stage rebooting/confirming means the bootloader
# rolled back (the new boot was never confirmed): rolled-back.
import time

import flash
import hal

_PATH = "otajob.json"
_DONE = "otadone.json"
_KEEP = 8
SELF_TEST_S = 120  # device.json "ota": {"self_test_s": ...} overrides


class Job:
    def __init__(self, d):
        self.d = d
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
        flash.save(_DONE, (flash.load(_DONE, []) + [self.d["job"]])[-_KEEP:])
        self.d["stage"] = None
        self.status(state, reason)
        flash.remove("otajournal")

    def poll(self, sent):
        # The self-test, every second from the app's watch task: telemetry
        # acknowledged by the broker (a session opens with its heartbeat, so
        # one went first) commits the image; the deadline passing resets
        # without committing, and the bootloader returns to the old slot.
        if self.deadline is None:
            return
        if sent:
            hal.partition().mark_app_valid_cancel_rollback()
            self.deadline = None
            self.end("succeeded")
        elif time.ticks_diff(time.ticks_ms(), self.deadline) >= 0:
            self.d["reason"] = "self-test failed: no telemetry acknowledged before its deadline"
            self.save()
            hal.reset()


def _running():
    p = hal.partition()
    return p(p.RUNNING).info()[4]


def main():
    # main.py, before the app is loaded, when otajob.json exists. A job
    # waiting for its download runs the updater with the whole heap (it
    # ends in a reset); a job whose slot is already running (power lost
    # after set_boot, before the stage was saved) is confirming. -> the Job
    # for the app (None once nothing is left to do).
    d = flash.load(_PATH)
    if d is None:
        return None
    job = Job(d)
    stage = d["stage"]
    if stage is None:
        return job if d["out"] else None
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
    return job


def _take(job, offer):
    # An ota_offer body -> the new Job, or None if it is ignored: a job is
    # in flight, or this one finished already.
    if job is not None and job.d["stage"] is not None or offer["job"] in flash.load(_DONE, []):
        return None
    d = {"job": offer["job"], "version": offer["version"], "url": offer["url"], "metadata": offer["metadata"]}
    d.update(stage="update", release=None, slot=None, tries=0, reason=None, out=job.d["out"] if job else [])
    job = Job(d)
    job.status("offered")
    return job


async def run(node, client):
    # In the app's MQTT session: a new offer (node._offer) is recorded; the
    # queued statuses go out (before hello at a connect: the cloud reads a
    # job's states in order); a taken offer resets into update mode. The
    # protocol is imported here: the app has it loaded, update mode must not.
    from protocol import codec, topics
    from protocol.errors import ProtocolError

    raw = node._offer
    node._offer = None
    new = None
    if raw:  # empty: the offer was withdrawn
        try:
            new = _take(node.job, codec.decode(raw, node.topic(topics.OTA_OFFER)).body)
        except ProtocolError as e:
            print("mob: bad offer:", e.code)
    job = new or node.job
    if job is None:
        return
    node.job = job
    out = job.d["out"]
    while out:
        _, m = node.env.seal("ota_status", out[0], node._out)
        await client.publish(node.topic(topics.OTA_STATUS), m, False, 1)
        out.pop(0)
        job.save()
    if job.d["stage"] is None:
        flash.remove(_PATH)  # nothing left: the app stops loading this module
        node.job = None
    if new is not None:
        await client.disconnect()
        print("mob: ota: update mode")
        hal.reset()
