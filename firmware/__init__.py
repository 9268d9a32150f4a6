"""ESP32 firmware: MicroPython sources in src/, host stand-ins in host/, the bundle builder."""
