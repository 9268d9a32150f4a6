"""Campaigns and the world they run in: tenants, assets, campaign windows, sensor mounts
(DeviceHistory), shipments and exposure zones. Ops edit them (`routes.py`); the ingest reads them
(`world.py`) to attribute observations to assets and campaigns."""
