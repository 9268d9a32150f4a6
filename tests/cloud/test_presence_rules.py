"""The presence rule as a pure function: wills ordered by boot and seq, grace, sleep, flap damping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cloud.presence.rules import Evidence, Policy, Presence, observe, sweep

T = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
P = Policy(timeout_factor=3.0, default_interval_s=60, flap_half_life_s=60, flap_on=4, flap_off=1, stable_s=10)


def ev(kind: str, seq: int, boot: str = "aaaa0001", **kw: object) -> Evidence:
    return Evidence(kind=kind, boot=boot, seq=seq, device_ts=T, **kw)  # type: ignore[arg-type]


def run(p: Presence, *steps: tuple[Evidence, float]) -> tuple[Presence, list[tuple[str, str]]]:
    out = []
    for e, at in steps:
        p, t = observe(p, e, T + timedelta(seconds=at), P)
        if t:
            out.append((t.to_status, t.reason))
    return p, out


def test_connect_sequence_and_will_make_online_then_offline() -> None:
    # will reserved at connect (seq 0), online (1), hello (2), heartbeat (3), will fires.
    p, ts = run(
        Presence(),
        (ev("online", 1), 0),
        (ev("birth", 2, interval_s=10), 0),
        (ev("heartbeat", 3), 5),
        (ev("lwt", 0), 6),
    )
    assert ts == [("online", "birth"), ("offline", "lwt")]
    assert p.status == "offline"


def test_a_late_will_of_the_previous_connection_is_stale() -> None:
    # connection 1: will 0, online 1, hello 2; connection 2 (takeover): will 3, online 4, hello 5;
    # the broker publishes connection 1's will only after connection 2's online.
    p, ts = run(
        Presence(),
        (ev("online", 1), 0),
        (ev("birth", 2), 0),
        (ev("online", 4), 10),
        (ev("lwt", 0), 10.1),
        (ev("birth", 5), 10.2),
    )
    assert ts == [("online", "birth")]
    assert p.status == "online"
    p, ts = run(p, (ev("lwt", 3), 20), (ev("lwt", 3), 20.5))  # the current will, delivered twice
    assert ts == [("offline", "lwt")]


def test_a_will_of_an_earlier_boot_is_stale_and_a_new_boot_is_adopted() -> None:
    p, _ = run(Presence(), (ev("online", 1, boot="aaaa0001"), 0), (ev("online", 1, boot="bbbb0002"), 5))
    assert p.boot == "bbbb0002"
    p, ts = run(p, (ev("lwt", 0, boot="aaaa0001"), 6))
    assert ts == []
    assert p.status == "online"
    # Heartbeats of the old boot (store-and-forward) are never presence evidence.
    p2, ts = run(p, (ev("heartbeat", 99, boot="aaaa0001"), 7))
    assert p2 == p


def test_clean_shutdown_has_its_own_reason() -> None:
    _, ts = run(Presence(), (ev("online", 1), 0), (ev("disconnect", 2), 3))
    assert ts == [("online", "birth"), ("offline", "clean-disconnect")]


def test_a_heartbeat_late_within_grace_never_flips_and_silence_times_out() -> None:
    p, _ = run(Presence(), (ev("birth", 1, interval_s=10), 0), (ev("heartbeat", 2, interval_s=10), 25))
    # 29 s after the last heartbeat: late, but inside 3 x 10 s.
    q, t = sweep(p, T + timedelta(seconds=25 + 29), P)
    assert (q.status, t) == ("online", None)
    q, t = sweep(p, T + timedelta(seconds=25 + 31), P)
    assert q.status == "offline"
    assert t is not None
    assert t.reason == "timeout"


def test_silence_inside_the_sleep_schedule_is_sleeping_and_overrun_is_offline() -> None:
    night = T.replace(hour=23)
    p = Presence(sleep_schedule=("22:00-06:00",))
    p, _ = observe(p, ev("birth", 1, interval_s=10), night, P)
    p, t = sweep(p, night + timedelta(seconds=40), P)
    assert (p.status, t and t.reason) == ("sleeping", "timeout")
    p, t = sweep(p, night.replace(hour=5) + timedelta(days=1), P)
    assert p.status == "sleeping"
    p, t = sweep(p, night.replace(hour=6, minute=1) + timedelta(days=1), P)
    assert (p.status, t and t.reason) == ("offline", "sleep-overrun")


def test_a_declared_sleep_is_sleeping_not_offline() -> None:
    p, ts = run(Presence(), (ev("birth", 1), 0), (ev("sleep", 2, sleep_until=T + timedelta(hours=8)), 5))
    assert ts[-1] == ("sleeping", "sleep")
    p, _ = sweep(p, T + timedelta(hours=4), P)
    assert p.status == "sleeping"


def test_a_flapping_link_is_flagged_and_its_onlines_are_held_until_stable() -> None:
    p = Presence()
    steps = []
    seq = 0
    for i in range(6):  # reconnect every 2 s: online, will, online, will ...
        seq += 1
        will = seq
        seq += 1
        steps += [(ev("online", seq), i * 2.0), (ev("lwt", will), i * 2.0 + 1)]
    p, ts = run(p, *steps)
    assert p.flapping
    assert len(ts) < 12  # hysteresis: fewer transitions than link changes
    assert ts[-1][0] == "offline"  # going away is never held back
    seq += 1
    p, ts = run(p, (ev("online", seq), 20))
    assert ts == []
    assert p.status == "offline"
    assert p.online_pending_since is not None
    p2, t = sweep(p, T + timedelta(seconds=25), P)
    assert t is None
    p2, t = sweep(p, T + timedelta(seconds=31), P)
    assert t is not None
    assert (t.to_status, t.reason) == ("online", "stable")
    p2, _ = observe(p2, ev("heartbeat", seq + 1), T + timedelta(minutes=9), P)
    later = sweep(p2, T + timedelta(minutes=10), P)[0]  # a quiet link: the flag clears
    assert later.status == "online"
    assert not later.flapping
