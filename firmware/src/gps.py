# NMEA 0183 GGA/RMC parser for a GPS on a UART, in integers only (no float
# rounding of positions): positions as degrees * 1e6.
from micropython import const

_FIX_MAX_AGE_MS = const(10000)


def checksum_ok(line):
    # "$GPGGA,...*hh": XOR of the bytes between '$' and '*'.
    star = line.find(b"*")
    if line[:1] != b"$" or star < 0 or len(line) < star + 3:
        return False
    c = 0
    for b in line[1:star]:
        c ^= b
    try:
        return c == int(line[star + 1 : star + 3], 16)
    except ValueError:
        return False


def _coord_e6(value, hemi, deg_digits):
    # "4807.038" (ddmm.mmmm) -> 48117300 (48 deg + 7.038 min, in 1e-6 deg).
    if not value:
        return None
    dot = value.find(b".")
    if dot < 0:
        dot = len(value)
    deg = int(value[:deg_digits])
    whole_min = int(value[deg_digits:dot])
    frac = value[dot + 1 : dot + 7]
    micro_min = whole_min * 1000000 + (int(frac) * 10 ** (6 - len(frac)) if frac else 0)
    e6 = deg * 1000000 + (micro_min + 30) // 60
    if hemi in (b"S", b"W"):
        e6 = -e6
    return e6


def _knots_to_cm_s(value):
    # "022.4" knots -> 1152 cm/s (1 knot = 51.4444 cm/s)
    if not value:
        return 0
    dot = value.find(b".")
    whole = value[:dot] if dot >= 0 else value
    frac = value[dot + 1 : dot + 4] if dot >= 0 else b""
    milli = int(whole or b"0") * 1000 + (int(frac) * 10 ** (3 - len(frac)) if frac else 0)
    return min(milli * 514444 // 10000000, 100000)


def _days(y, m, d):
    # days since 1970-01-01 (civil calendar, Howard Hinnant's algorithm)
    if m <= 2:
        y -= 1
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


class Parser:
    # Holds the last good fix, with the ticks_ms it was seen at (`at`).
    def __init__(self, ticks_ms, ticks_diff):
        self._ticks = ticks_ms
        self._diff = ticks_diff
        self.lat_e6 = None
        self.lon_e6 = None
        self.sats = 0
        self.quality = 0  # GGA fix quality: 0 none, 1 GPS, 2 DGPS...
        self.speed_cm_s = 0
        self.at = None
        self.epoch_s = None  # UTC from the last valid RMC
        self.bad = 0  # sentences refused (checksum, syntax)

    def feed(self, line):
        # One sentence (bytes, with or without CRLF). True if it was used.
        line = line.strip()
        if not checksum_ok(line):
            self.bad += 1
            return False
        f = line[1 : line.find(b"*")].split(b",")
        kind = f[0][2:]
        try:
            if kind == b"GGA" and len(f) >= 8:
                used = self._gga(f)
            elif kind == b"RMC" and len(f) >= 10:
                used = self._rmc(f)
            else:
                return False
        except ValueError:
            self.bad += 1
            return False
        return used

    def _gga(self, f):
        self.quality = int(f[6] or b"0")
        if not self.quality:
            return False  # no fix
        self._set(_coord_e6(f[2], f[3], 2), _coord_e6(f[4], f[5], 3))
        self.sats = int(f[7] or b"0")
        return True

    def _rmc(self, f):
        if f[2] != b"A":
            return False
        t, d = f[1], f[9]
        if len(t) >= 6 and len(d) == 6:
            yy = int(d[4:6])
            day = _days(yy + (2000 if yy < 80 else 1900), int(d[2:4]), int(d[0:2]))
            self.epoch_s = day * 86400 + int(t[0:2]) * 3600 + int(t[2:4]) * 60 + int(t[4:6])
        self.speed_cm_s = _knots_to_cm_s(f[7])
        self._set(_coord_e6(f[3], f[4], 2), _coord_e6(f[5], f[6], 3))
        return True

    def _set(self, lat, lon):
        if lat is None or lon is None:
            return
        self.lat_e6 = lat
        self.lon_e6 = lon
        self.at = self._ticks()

    def position(self):
        # (lat_e6, lon_e6) of a fix younger than 10 s, else (None, None).
        if self.at is None or self._diff(self._ticks(), self.at) > _FIX_MAX_AGE_MS:
            return None, None
        return self.lat_e6, self.lon_e6
