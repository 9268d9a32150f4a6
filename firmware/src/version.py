# The firmware version, reported in hello and heartbeat, stamped in the
# bundle manifest by build.py. An integer, as a string: it is the signed
# release version of ota/SPEC.md (monotonic, compared by the updater) and
# the `fw` the cloud compares with a job's release to commit it.
VERSION = "1"
