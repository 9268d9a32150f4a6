# Heartbeat body (protocol/SPEC.md, heartbeat).
def body(uptime_s, heap_free, heap_min_free, rssi, reset_cause, fw, outbox_depth, dropped, state):
    return {
        "uptime_s": uptime_s,
        "heap_free": heap_free,
        "heap_min_free": heap_min_free,
        "rssi": rssi,
        "reset_cause": reset_cause,
        "fw": fw,
        "outbox": outbox_depth,
        "dropped": dropped,
        "state": state,
    }
