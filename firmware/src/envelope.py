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

    def seal(self, type, body, buf=None):
        # -> (seq, encoded message). codec checks the envelope (the cloud's
        # decode checks the body). With `buf` (a bytearray allocated once)
        # the message is written into it and returned as a memoryview of
        # it, valid until buf's next use: no allocation the size of the
        # message, which a fragmented heap may not have in one piece.
        self.seq += 1
        msg = codec.make(type, self.device, self.boot, self.seq, self.ts(), body)
        if buf is None:
            return self.seq, codec.encode(msg, False)
        return self.seq, memoryview(buf)[: codec.encode_into(msg, buf, False)]
