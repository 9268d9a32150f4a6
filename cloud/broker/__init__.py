"""MQTT brokers the control plane runs or configures: the embedded amqtt one and Mosquitto configs."""
