"""Mobilytics edge agent: the Raspberry Pi side of the fleet.

Sources (WiFi probe requests, BLE advertisements, GPS) feed sightings; the privacy module turns
raw addresses into keyed hashes before anything is stored; a SQLite outbox holds telemetry batches
until the broker acknowledges them; the uplink speaks protocol v1 over MQTT.
"""

__version__ = "0.1.0"
