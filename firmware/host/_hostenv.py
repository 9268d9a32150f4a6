# Shared by the host stand-ins (machine, network, bluetooth, esp32): where the
# simulated flash and the scenario controls live. Not shipped to a board.
#
# MOB_HOST_FLASH  directory holding the flash filesystem (the process cwd is
#                 set to it by the launcher, as "/" is on the board)
# MOB_HOST_CTL    directory the test drops control files into:
#                   wifi_down  the access point is gone while the file exists
#                   reset      consumed by the next WDT.feed(): a watchdog reset
#                   rssi       text int, the RSSI the WLAN reports
#                   pause      a flash operation's name (esp32.py, _pause): the
#                              firmware freezes there and writes `paused`; the
#                              test then cuts the power exactly at that point
# MOB_HOST_CROWD  scripted BLE crowd file (see bluetooth.py)
# MOB_HOST_NMEA   NMEA sentences the GPS UART yields (see machine.py)
# MOB_HOST_UID    hex unique id (machine.unique_id)
import os


def env(name, default=None):
    v = os.getenv(name)
    return default if v is None or v == "" else v


def _join(d, name):
    return d + "/" + name


def ctl_exists(name):
    d = env("MOB_HOST_CTL")
    if d is None:
        return False
    try:
        os.stat(_join(d, name))
        return True
    except OSError:
        return False


def ctl_read(name, default=None):
    d = env("MOB_HOST_CTL")
    if d is None:
        return default
    try:
        with open(_join(d, name)) as f:
            return f.read().strip()
    except OSError:
        return default


def ctl_take(name):
    # Consume a one-shot control file; True if it was there.
    d = env("MOB_HOST_CTL")
    if d is None:
        return False
    try:
        os.remove(_join(d, name))
        return True
    except OSError:
        return False


# Host-only state kept next to the flash contents (survives machine.reset()).
def state_path(name):
    d = _join(env("MOB_HOST_FLASH", "."), ".host")
    try:
        os.mkdir(d)
    except OSError:
        pass
    return _join(d, name)
