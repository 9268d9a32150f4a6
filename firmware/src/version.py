# The firmware version, reported in hello and heartbeat, stamped in the
# bundle manifest by build.py.
VERSION = "0.1.0"
