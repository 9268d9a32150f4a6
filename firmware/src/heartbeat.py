# Heartbeat body (protocol/SPEC.md 5.2). rssi is left out while the link
# reports none (the field is -127..0 when present).
def body(
    uptime_s, interval_s, rssi, free_mem, free_disk, outbox, dropped, gps_fix, reset, fw, config_version
):
    b = {
        "uptime_s": uptime_s,
        "interval_s": interval_s,
        "free_mem": free_mem,
        "free_disk": free_disk,
        "outbox": outbox,
        "dropped": dropped,
        "gps_fix": gps_fix,
        "reset": reset,
        "fw": fw,
        "config_version": config_version,
    }
    if rssi is not None:
        b["rssi"] = rssi
    return b
