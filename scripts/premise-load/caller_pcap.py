#!/usr/bin/env python3
"""Writes what one load caller sends, as a pcap for SIPp's play_pcap_audio.

Built from Debian's sip-tester samples: A-law speech from g711a.pcap and the RFC 4733
digit from dtmf_2833_N.pcap. Timeline from the answer:
  0 s            speech (the 7.05 s clip) while the IVR greets and reads the menu,
                 then A-law silence
  --ivr-ms       the digit (RFC 4733 events on payload type 101)
  + 1 s          speech, the clip over and over, for --talk-secs
One SSRC, sequence numbers and timestamps continuing across the whole call, one packet
every 20 ms (silence between clips) — as a phone sends it. Replaying the sample pcaps
one after another instead restarts their sequence numbers and timestamps each time,
which no phone does.
Python standard library only.
"""

import argparse
import struct

PCAP_HEADER = struct.Struct("<IHHiIII")
RECORD = struct.Struct("<IIII")
SILENCE = bytes([0xD5]) * 160  # A-law silence, 20 ms
SSRC = 0x63616C6C  # "call"


def read_rtp(path):
    """(time, RTP bytes) of every UDP packet of an Ethernet pcap."""
    data = open(path, "rb").read()
    _, _, _, _, _, _, linktype = PCAP_HEADER.unpack_from(data)
    if linktype != 1:
        raise SystemExit(f"{path}: linktype {linktype}, expected Ethernet")
    out, off = [], PCAP_HEADER.size
    while off + RECORD.size <= len(data):
        sec, usec, caplen, _ = RECORD.unpack_from(data, off)
        pkt = data[off + RECORD.size : off + RECORD.size + caplen]
        off += RECORD.size + caplen
        ip = pkt[14:]
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        udp = ip[(ip[0] & 15) * 4 :]
        out.append((sec + usec / 1e6, udp[8:]))
    return out


def packet(rtp, sport=6000, dport=6002):
    """Ethernet + IPv4 + UDP framing around an RTP packet (SIPp takes the payload)."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(rtp), 0) + rtp
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
        bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]),
    )
    return b"\x00" * 12 + b"\x08\x00" + ip + udp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--speech", default="/usr/share/sip-tester/g711a.pcap")
    ap.add_argument("--digit", default="/usr/share/sip-tester/dtmf_2833_2.pcap")
    ap.add_argument("--ivr-ms", type=int, default=11500)
    ap.add_argument("--talk-secs", type=float, default=30)
    args = ap.parse_args()

    speech = [rtp[12:] for _, rtp in read_rtp(args.speech) if rtp[1] & 0x7F == 8]
    digit = read_rtp(args.digit)
    if not speech or not digit:
        raise SystemExit("no A-law speech or no RFC 4733 digit in the sample pcaps")

    frames = []  # (ms from the answer, payload type, marker, payload, timestamp step)

    def audio(start_ms, payloads):
        for i, p in enumerate(payloads):
            frames.append((start_ms + 20 * i, 8, i == 0, p))
        return start_ms + 20 * len(payloads)

    t = audio(0, speech)
    t = audio(t, [SILENCE] * max(0, (args.ivr_ms - t) // 20))
    # the digit: RFC 4733 packets keep their spacing; one event, one timestamp
    d0 = digit[0][0]
    digit_ms = t
    for when, rtp in digit:
        frames.append((digit_ms + int((when - d0) * 1000), 101, (rtp[1] & 0x80) != 0, rtp[12:]))
    t = digit_ms + int((digit[-1][0] - d0) * 1000) + 20
    t = audio(t, [SILENCE] * ((digit_ms + 1000 - t) // 20))
    talk = []
    while len(talk) * 20 < args.talk_secs * 1000:
        talk.extend(speech)
    t = audio(t, talk[: int(args.talk_secs * 50)])

    with open(args.out, "wb") as f:
        f.write(PCAP_HEADER.pack(0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for seq, (ms, pt, marker, payload) in enumerate(frames):
            # audio: 8 samples per ms; an event keeps the timestamp of its start
            ts = 8 * (digit_ms if pt == 101 else ms)
            rtp = struct.pack(
                "!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, SSRC
            ) + payload
            pkt = packet(rtp)
            f.write(RECORD.pack(ms // 1000, (ms % 1000) * 1000, len(pkt), len(pkt)))
            f.write(pkt)
    print(f"{args.out}: {len(frames)} packets, {t / 1000:.2f} s")


if __name__ == "__main__":
    main()
