"""The field technician's CLI, ``mobilytics-provision``: blank ESP32 or Pi to registered device.

Where things live:

* ``state``: the per-device state file (what is done, with what), so every step can be repeated;
* ``local_identity``: the device's key pair and CSR, made on this machine, never sent anywhere;
* ``esp32``: the serial seams, esptool (flash) and mpremote (files, reset), and the install plan;
* ``pi``: the Raspberry Pi install, on a ``Target`` that is this machine (a root directory) or SSH;
* ``cloud``: the two HTTP calls (claim with the enrollment token; wait for the first heartbeat);
* ``cli``: the typer app: progress, errors, ``--json``.

Only ``register`` and ``check`` need the network; everything before works offline.
"""
