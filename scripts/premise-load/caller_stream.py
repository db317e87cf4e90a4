#!/usr/bin/env python3
"""Writes what one load caller says, as raw A-law files for SIPp's rtp_stream.

The `stream` mode of the load harness: the callers' speech goes out through SIPp's
rtp_stream (ordinary UDP sockets), and only the RFC 4733 digit through
play_pcap_audio. play_pcap_audio holds a raw socket for as long as it plays, and on
loopback the kernel copies every UDP packet sent on the machine to every raw socket:
with the whole call as one pcap, 1,000 calls meant 1,000 raw sockets, and each packet
the center sent was copied 1,000 times, in the center's own CPU time. With the digit
alone, a raw socket lives for about a second per call.

From Debian's g711a.pcap: ivr.al is the clip then A-law silence up to --ivr-ms;
talk.al is a second of silence, then the clip over and over for --talk-secs.
Python standard library only.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from caller_pcap import read_rtp  # noqa: E402

SILENCE = bytes([0xD5]) * 160  # A-law silence, 20 ms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--speech", default="/usr/share/sip-tester/g711a.pcap")
    ap.add_argument("--ivr-ms", type=int, default=11500)
    ap.add_argument("--talk-secs", type=float, default=30)
    args = ap.parse_args()
    speech = [rtp[12:] for _, rtp in read_rtp(args.speech) if rtp[1] & 0x7F == 8]
    if not speech:
        raise SystemExit("no A-law speech in the sample pcap")
    ivr = list(speech)[: args.ivr_ms // 20]
    ivr += [SILENCE] * max(0, args.ivr_ms // 20 - len(ivr))
    talk = [SILENCE] * 50
    while len(talk) < 50 + args.talk_secs * 50:
        talk.extend(speech)
    talk = talk[: int(50 + args.talk_secs * 50)]
    with open(os.path.join(args.out_dir, "ivr.al"), "wb") as f:
        f.write(b"".join(ivr))
    with open(os.path.join(args.out_dir, "talk.al"), "wb") as f:
        f.write(b"".join(talk))
    print(f"ivr.al {len(ivr) * 20} ms, talk.al {len(talk) * 20} ms")


if __name__ == "__main__":
    main()
