"""The presence rule: a pure function from (what we knew, new evidence, now) to what we know now.

Three signals are kept apart (the full rule, with examples, is in RULES.md beside this file):

* **connection** — the broker's word: the retained status topic, set "offline" by the device's Last
  Will when its connection dies, or by the device itself before a clean disconnect. Wills can
  arrive late, twice or out of order, so they are ordered by (boot, seq): a will from another boot
  than the current one is stale; a will whose seq is older than the current connection's birth
  (``will.seq + 1 < conn_floor``) belongs to an earlier connection and is stale too.
* **liveness** — heartbeats at the interval the device declared: silence longer than
  ``timeout_factor`` x interval (default 3x) means offline, found by the sweeper from stored times.
  A heartbeat late but within that grace changes nothing.
* **expected absence** — a declared ``sleep_until`` or the registry's daily ``sleep_schedule``: a
  device that goes quiet inside it is "sleeping", not "offline"; one still silent when the window
  ends becomes offline ("sleep-overrun").

Flap damping (hysteresis): every online<->away transition adds 1 to a score that halves every
``flap_half_life_s``; at ``flap_on`` the device is flagged ``flapping`` and an online transition is
held back until the link has stayed up ``stable_s`` (the sweeper promotes it, reason "stable");
going away is never held back. The flag clears when the score decays under ``flap_off``.

Nothing here does I/O: `cloud/presence/service.py` loads the state from the database, calls these
functions and writes the result, so any replica can do it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta

from cloud.registry.models import PresenceStatus

ONLINE, OFFLINE, SLEEPING, UNKNOWN = (
    PresenceStatus.ONLINE,
    PresenceStatus.OFFLINE,
    PresenceStatus.SLEEPING,
    PresenceStatus.UNKNOWN,
)


class Reason:
    """Why a transition happened (the status history's `reason`)."""

    BIRTH = "birth"
    HEARTBEAT = "heartbeat"
    LWT = "lwt"
    CLEAN_DISCONNECT = "clean-disconnect"
    TIMEOUT = "timeout"
    SLEEP = "sleep"  # the device announced it goes to sleep
    SLEEP_OVERRUN = "sleep-overrun"
    STABLE = "stable"  # a held-back online transition of a flapping device, released


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    timeout_factor: float = 3.0
    default_interval_s: float = 60.0
    flap_half_life_s: float = 60.0
    flap_on: float = 4.0
    flap_off: float = 1.0
    stable_s: float = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Presence:
    """The presence facts of one device, as stored on its registry row."""

    status: str = UNKNOWN
    since: datetime | None = None
    reason: str | None = None
    boot: str | None = None
    boot_ts: datetime | None = None  # the device's clock at the latest message of the current boot
    conn_floor: int | None = None  # highest seq seen before the current connection's first message
    last_seq: int | None = None
    connected: bool = False
    last_heartbeat_at: datetime | None = None
    interval_s: float | None = None
    sleep_until: datetime | None = None
    sleep_schedule: tuple[str, ...] = ()
    flap_score: float = 0.0
    flap_score_at: datetime | None = None
    flapping: bool = False
    online_pending_since: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Evidence:
    """One message about a device's presence.

    kind: "birth" (hello), "heartbeat", "lwt" (status offline from the Last Will), "disconnect"
    (status offline the device published itself before disconnecting), "sleep" (status sleeping,
    with `sleep_until`), "online" (status online published on connect).
    """

    kind: str
    boot: str
    seq: int
    device_ts: datetime
    interval_s: float | None = None
    sleep_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    from_status: str
    to_status: str
    reason: str
    at: datetime
    boot: str | None
    seq: int | None


LIFE = frozenset({"birth", "heartbeat", "online"})
MARKERS = frozenset({"birth", "online"})  # what a device sends first on every connection
AWAY = frozenset({"lwt", "disconnect", "sleep"})


def parse_window(text: str) -> tuple[time, time]:
    """'22:00-06:00' -> (22:00, 06:00); raises ValueError on anything else."""
    start, _, end = text.partition("-")
    return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())


def in_schedule(schedule: tuple[str, ...] | list[str], now: datetime) -> datetime | None:
    """If `now` (UTC) is inside one of the daily windows, the end of that window; else None."""
    t = now.timetz().replace(tzinfo=None)
    for text in schedule:
        start, end = parse_window(text)
        if start <= end:
            inside = start <= t < end
            end_day = now.date()
        else:  # wraps midnight
            inside = t >= start or t < end
            end_day = now.date() + timedelta(days=1) if t >= start else now.date()
        if inside:
            return datetime.combine(end_day, end, tzinfo=now.tzinfo)
    return None


def expected_absence(p: Presence, now: datetime) -> datetime | None:
    """When the current expected absence ends, or None if the device is expected to be up."""
    if p.sleep_until is not None and now < p.sleep_until:
        return p.sleep_until
    return in_schedule(p.sleep_schedule, now)


def timeout_s(p: Presence, policy: Policy) -> float:
    return policy.timeout_factor * (p.interval_s or policy.default_interval_s)


def _decayed(p: Presence, now: datetime, policy: Policy) -> float:
    if p.flap_score_at is None:
        return 0.0
    dt = max(0.0, (now - p.flap_score_at).total_seconds())
    return p.flap_score * math.pow(0.5, dt / policy.flap_half_life_s)


def _flag(p: Presence, score: float, now: datetime, policy: Policy) -> Presence:
    flapping = score >= policy.flap_on or (p.flapping and score >= policy.flap_off)
    return replace(p, flap_score=score, flap_score_at=now, flapping=flapping)


def _move(
    p: Presence, to: str, reason: str, now: datetime, policy: Policy, ev: Evidence | None
) -> tuple[Presence, Transition | None]:
    if p.status == to:
        return p, None
    score = _decayed(p, now, policy)
    if p.status != UNKNOWN:
        score += 1.0
    q = _flag(p, score, now, policy)
    if to == ONLINE and q.flapping and reason != Reason.STABLE:
        # Hysteresis: hold the online transition until the link has been stable for stable_s.
        pending = p.online_pending_since or now
        return replace(q, online_pending_since=pending), None
    t = Transition(p.status, to, reason, now, ev.boot if ev else p.boot, ev.seq if ev else None)
    return replace(q, status=to, since=now, reason=reason, online_pending_since=None), t


def observe(p: Presence, ev: Evidence, now: datetime, policy: Policy) -> tuple[Presence, Transition | None]:
    """Apply one piece of evidence (arrival order) and return the new presence and its transition."""
    marker = ev.kind in MARKERS
    if p.boot is not None and ev.boot != p.boot:
        if not marker:
            return p, None  # another boot's message: store-and-forward data, never presence evidence
        p = replace(p, boot=ev.boot, boot_ts=ev.device_ts, conn_floor=None, last_seq=None, sleep_until=None)
    elif p.boot is None:
        p = replace(p, boot=ev.boot, boot_ts=ev.device_ts)
    if ev.kind in AWAY:
        # A will's seq was reserved at connect: it is stale when it is not above everything seen
        # before the current connection began (conn_floor); then the old connection's will.
        if p.conn_floor is not None and ev.seq <= p.conn_floor:
            return p, None
    elif p.last_seq is not None and ev.seq <= p.last_seq:
        return p, None  # a redelivery, or older than what we already applied
    if marker and (ev.kind == "online" or p.status != ONLINE or p.conn_floor is None):
        p = replace(p, conn_floor=-1 if p.last_seq is None else p.last_seq)
    p = replace(p, last_seq=ev.seq if p.last_seq is None else max(p.last_seq, ev.seq))
    if ev.device_ts and (p.boot_ts is None or ev.device_ts > p.boot_ts):
        p = replace(p, boot_ts=ev.device_ts)

    if ev.kind in LIFE:
        if ev.interval_s:
            p = replace(p, interval_s=ev.interval_s)
        p = replace(p, connected=True, last_heartbeat_at=now)
        if marker and p.sleep_until is not None and p.sleep_until <= now:
            p = replace(p, sleep_until=None)
        reason = Reason.BIRTH if marker else Reason.HEARTBEAT
        return _move(p, ONLINE, reason, now, policy, ev)

    if ev.kind == "sleep":
        p = replace(p, sleep_until=ev.sleep_until)
    p = replace(p, connected=False, online_pending_since=None)
    if ev.kind == "sleep" or expected_absence(p, now) is not None:
        return _move(p, SLEEPING, Reason.SLEEP if ev.kind == "sleep" else _away_reason(ev), now, policy, ev)
    return _move(p, OFFLINE, _away_reason(ev), now, policy, ev)


def _away_reason(ev: Evidence) -> str:
    return Reason.LWT if ev.kind == "lwt" else Reason.CLEAN_DISCONNECT


def sweep(p: Presence, now: datetime, policy: Policy) -> tuple[Presence, Transition | None]:
    """What time alone changes: heartbeat timeouts, sleep overruns, held-back onlines, the flap flag."""
    if p.online_pending_since is not None and p.status != ONLINE:
        silent = p.last_heartbeat_at is None or (now - p.last_heartbeat_at).total_seconds() > timeout_s(
            p, policy
        )
        if silent:
            p = replace(p, online_pending_since=None)
        elif (now - p.online_pending_since).total_seconds() >= policy.stable_s:
            return _move(p, ONLINE, Reason.STABLE, now, policy, None)
    if p.status == ONLINE:
        last = p.last_heartbeat_at or p.since
        if last is not None and (now - last).total_seconds() > timeout_s(p, policy):
            p = replace(p, connected=False)
            if expected_absence(p, now) is not None:
                return _move(p, SLEEPING, Reason.TIMEOUT, now, policy, None)
            return _move(p, OFFLINE, Reason.TIMEOUT, now, policy, None)
    if p.status == SLEEPING and expected_absence(p, now) is None:
        return _move(p, OFFLINE, Reason.SLEEP_OVERRUN, now, policy, None)
    if p.flapping and _decayed(p, now, policy) < policy.flap_off:
        return _flag(p, _decayed(p, now, policy), now, policy), None
    return p, None


def heartbeat_overdue(p: Presence, now: datetime, policy: Policy) -> bool:
    """Later than its declared interval (but maybe still within grace): shown, never a transition."""
    if p.status != ONLINE or p.last_heartbeat_at is None:
        return False
    return (now - p.last_heartbeat_at).total_seconds() > 1.5 * (p.interval_s or policy.default_interval_s)
