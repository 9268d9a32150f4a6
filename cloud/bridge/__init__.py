"""The MQTT bridge: device messages in, database rows out."""
