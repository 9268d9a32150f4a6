# Hardware layer: the only module that imports machine, network, bluetooth
# and esp32. On the host those are the stand-ins of firmware/host/.
# Kept thin (every function and class costs heap): where the port's object
# already has the interface the node needs (WDT.feed), it is returned as is.
import time

import bluetooth
import machine
import network
from micropython import const

_IRQ_SCAN_RESULT = const(5)
_IRQ_SCAN_DONE = const(6)

# MicroPython's embedded ports count from 2000-01-01 on older releases.
_EPOCH_OFFSET = 946684800 if time.gmtime(0)[0] == 2000 else 0

_CAUSES = {
    machine.PWRON_RESET: "power_on",
    machine.HARD_RESET: "hard",
    machine.WDT_RESET: "watchdog",
    machine.DEEPSLEEP_RESET: "deep_sleep",
    machine.SOFT_RESET: "soft",
}


def reset_cause():
    return _CAUSES.get(machine.reset_cause(), "unknown")


def reset():
    machine.reset()


def now_ms():
    # Wall clock in ms since 1970 (set by NTP or GPS on the board).
    return time.time_ns() // 1000000 + _EPOCH_OFFSET * 1000


def clock_ok():
    # False until NTP or GPS set the clock (the RTC starts at its epoch).
    return now_ms() > 1600000000000


def sync_clock():
    # NTP once the network is up; the host keeps the OS clock (no ntptime).
    try:
        import ntptime
    except ImportError:
        return clock_ok()
    try:
        ntptime.settime()
    except OSError:
        pass
    return clock_ok()


def set_clock(epoch_s):
    # Set the RTC from GPS time; the host keeps the OS clock.
    try:
        rtc = machine.RTC()
    except AttributeError:
        return
    tm = time.gmtime(epoch_s - _EPOCH_OFFSET)
    rtc.datetime((tm[0], tm[1], tm[2], tm[6], tm[3], tm[4], tm[5], 0))


def watchdog(timeout_ms):
    # -> the port's WDT; feed() it at least every timeout_ms.
    return machine.WDT(timeout=timeout_ms)


class Wifi:
    def __init__(self):
        self._wlan = network.WLAN(network.STA_IF)

    def connect(self, ssid, psk):
        self._wlan.active(True)
        if not self._wlan.isconnected():
            self._wlan.connect(ssid, psk)

    def isconnected(self):
        return self._wlan.isconnected()

    def rssi(self):
        try:
            return self._wlan.status("rssi")
        except OSError:
            return None


class Scanner:
    # BLE advertisement scanner. on_adv(addr_type, addr bytes, rssi) runs in
    # IRQ (scheduler) context: it must be short and must not keep the
    # memoryviews; on_done() when the scan window ends.
    def __init__(self, on_adv, on_done):
        self.on_adv = on_adv
        self.on_done = on_done
        self.ble = bluetooth.BLE()
        self.ble.active(True)
        self.ble.irq(self.irq)

    def irq(self, event, data):
        if event == _IRQ_SCAN_RESULT:
            addr_type, addr, adv_type, rssi, adv_data = data
            self.on_adv(addr_type, addr, rssi)
        elif event == _IRQ_SCAN_DONE:
            self.on_done()

    def start(self, duration_ms):
        # Passive scan, 30 ms window every 100 ms: catches ~all phones, which
        # advertise every 100-1000 ms, at a fraction of the radio time.
        self.ble.gap_scan(duration_ms, 100000, 30000, False)

    def stop(self):
        self.ble.gap_scan(None)


def gps_uart():
    # UART2 on GPIO16/17 at the receiver's 9600 baud.
    return machine.UART(2, baudrate=9600, rx=16, tx=17, rxbuf=1024)
