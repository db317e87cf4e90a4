"""A message centre for the SMS channel tests on PyPI's smpp34 (an SMPP 3.4
server): logs each bind and submit_sm as a JSON line, accepts each submit
with id smsc-N and sends its delivery receipt, and delivers the
mobile-originated messages written to its stdin as JSON lines
({"from", "to", "dc", "esm", "hex"}).

    smsc.py PORT LOG
"""

import asyncio
import json
import sys

import smpp34


async def main(port, log_path):
    log = open(log_path, "a", buffering=1)
    server = smpp34.Server("127.0.0.1", int(port), system_id="smsc")
    await server.start()
    esmes = []
    count = 0

    def write(entry):
        log.write(json.dumps(entry) + "\n")

    async def commands():
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return
            cmd = json.loads(line)
            while not esmes:
                await asyncio.sleep(0.05)
            await esmes[-1].deliver_sm(
                cmd["to"],
                bytes.fromhex(cmd["hex"]),
                source_addr=cmd["from"],
                data_coding=cmd["dc"],
                esm_class=cmd["esm"],
            )
            write({"op": "delivered"})

    async def receipt(esme, mid, ours, theirs):
        text = f"id:{mid} sub:001 dlvr:001 submit date:2612061200 done date:2612061200 stat:DELIVRD err:000 text:"
        await esme.deliver_sm(ours, text.encode(), source_addr=theirs, esm_class=4)

    feeder = asyncio.create_task(commands())
    while True:
        ev = await server.next()
        if isinstance(ev, smpp34.Esme):
            esmes.append(ev)
            write({"op": "bound", "system_id": ev.system_id})
        elif isinstance(ev, smpp34.SubmitSmEvent):
            count += 1
            mid = f"smsc-{count}"
            write(
                {
                    "op": "submit",
                    "id": mid,
                    "to": ev.destination_addr,
                    "from": ev.source_addr,
                    "dc": ev.data_coding,
                    "esm": ev.esm_class,
                    "hex": ev.short_message.hex(),
                }
            )
            ev.accept(mid)
            if esmes:
                asyncio.create_task(
                    receipt(esmes[-1], mid, ev.source_addr, ev.destination_addr)
                )
        elif isinstance(ev, smpp34.Unbound):
            write({"op": "unbound"})
    feeder.cancel()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
