# Protocol v1 envelopes for this boot: the device id, a boot id new at every
# start, and the per-boot sequence number. Encoding is protocol.codec's: the
# firmware reuses the shared codec, it does not copy it.
import binascii
import os

from protocol import codec


def new_boot_id():
    return binascii.hexlify(os.urandom(8)).decode()


class Envelopes:
    def __init__(self, device, boot, ts):
        self.device = device
        self.boot = boot
        self.seq = -1  # the first message is seq 0
        self.ts = ts  # () -> envelope ts, ms

    def seal(self, type, body):
        # -> (seq, encoded bytes). codec.encode validates: a body this
        # firmware builds wrong raises ProtocolError here, not in the cloud.
        self.seq += 1
        msg = codec.make(type, self.device, self.boot, self.seq, self.ts(), body)
        return self.seq, codec.encode(msg, False)
