# Host stand-in for the ESP32 port's `network` module. Not shipped.
# The WLAN "connects" after a short association delay and then the unix
# socket stack really carries the traffic. While the test keeps a
# `wifi_down` control file, the access point is gone: isconnected() is False,
# status() is STAT_NO_AP_FOUND, connect() does not succeed.
import time

import _hostenv

STA_IF = 0

STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_NO_AP_FOUND = 201


class WLAN:
    def __init__(self, *_):  # the interface: STA_IF, the only one simulated
        self._active = False
        self._since = None

    def active(self, v=None):
        if v is None:
            return self._active
        self._active = bool(v)
        if not v:
            self._since = None

    def connect(self, ssid=None, key=None, **kw):
        if not self._active:
            raise OSError("Wifi Not Started")
        self._since = time.ticks_ms()

    def status(self, param=None):
        if param == "rssi":
            if not self.isconnected():
                raise OSError("Wifi Not Connected")
            return int(_hostenv.ctl_read("rssi", "-58"))
        if not self._active or self._since is None:
            return STAT_IDLE
        if _hostenv.ctl_exists("wifi_down"):
            # The station keeps trying; it reconnects once the AP is back.
            self._since = time.ticks_ms()
            return STAT_NO_AP_FOUND
        if time.ticks_diff(time.ticks_ms(), self._since) < 300:  # association
            return STAT_CONNECTING
        return STAT_GOT_IP

    def isconnected(self):
        return self.status() == STAT_GOT_IP
