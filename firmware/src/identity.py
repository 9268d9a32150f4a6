# Who this node is and where it reports: device.json, written to flash by
# provisioning. Missing or broken identity is fatal: nothing can be sent.
import binascii

import flash

_PATH = "device.json"


class Identity:
    def __init__(self, d):
        self.device_id = d["device_id"]
        self.fleet_key = binascii.unhexlify(d["fleet_key"])
        wifi = d.get("wifi", {})
        self.ssid = wifi.get("ssid", "")
        self.psk = wifi.get("psk", "")
        m = d["mqtt"]
        self.host = m["host"]
        self.port = m.get("port", 1883)
        self.user = m.get("user")
        self.password = m.get("password")
        # TLS: (ca, cert, key) file names on flash, turned into a context at connect (mqtt.py).
        self.tls = m.get("tls", False) and (m.get("ca"), m.get("cert"), m.get("key"))
        self.keepalive = m.get("keepalive", 30)
        self.outbox_max = d.get("outbox_max", 64)


def load(path=_PATH):
    d = flash.load(path)
    if d is None:
        raise OSError("no " + path + ": provision this device first")
    return Identity(d)
