"""python -m provisioning: the same as mobilytics-provision."""

from provisioning.cli import app

app()
