"""Host stand-ins for the ESP32 modules, and the CPython launcher that runs the firmware."""
