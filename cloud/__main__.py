"""`python -m cloud` is `mobilytics`."""

from cloud.cli import app

app(prog_name="mobilytics")
