"""BlueZoo third-party sensors as a data source: pull their REST API, write observations for
devices of hardware kind `third-party`. The assumed wire format is `format.py`, and only there."""
