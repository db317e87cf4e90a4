"""The peers of tests/email_tls.rs: mail-devel (aiosmtpd + pymap) with TLS,
and a customer's mail client on Python's smtplib/imaplib over TLS.

    email_tls_peer.py serve [--imap-starttls] MAIL_DEVEL_ARGS...
    email_tls_peer.py send SMTP_PORT FROM TO CA_FILE < raw    (STARTTLS)
    email_tls_peer.py fetch IMAP_PORT USER CA_FILE plain|starttls -> JSON

mail-devel passes `tls=False` to pymap, so its IMAP port offers no STARTTLS;
`--imap-starttls` turns on pymap's own STARTTLS (its certificate from
--cert/--key) and with it pymap refuses LOGIN before STARTTLS.
"""

import email
import email.policy
import imaplib
import json
import smtplib
import ssl
import sys


def serve(args):
    starttls = "--imap-starttls" in args
    args = [a for a in args if a != "--imap-starttls"]
    import mail_devel.__main__ as main
    import mail_devel.service as service

    if starttls:
        plain = service.imap_context

        async def with_starttls(a):
            ns = await plain(a)
            ns.tls = True
            return ns

        service.imap_context = with_starttls
    sys.argv = ["mail_devel", *args]
    main.main()


def send(port, sender, to, ca):
    raw = sys.stdin.buffer.read()
    ctx = ssl.create_default_context(cafile=ca)
    with smtplib.SMTP("127.0.0.1", int(port), timeout=10) as s:
        s.starttls(context=ctx)
        s.login(sender, "secret")
        s.sendmail(sender, [to], raw)


def fetch(port, user, ca, mode):
    out = []
    with imaplib.IMAP4("127.0.0.1", int(port), timeout=10) as m:
        if mode == "starttls":
            m.starttls(ssl_context=ssl.create_default_context(cafile=ca))
        m.login(user, "secret")
        m.select("INBOX", readonly=True)
        _, data = m.search(None, "ALL")
        for num in data[0].split():
            _, parts = m.fetch(num, "(FLAGS BODY.PEEK[])")
            flags = parts[0][0].decode()
            msg = email.message_from_bytes(parts[0][1], policy=email.policy.default)
            body = msg.get_body(preferencelist=("plain",))
            out.append(
                {
                    "from": str(msg.get("From", "")),
                    "subject": str(msg.get("Subject", "")),
                    "seen": "\\Seen" in flags,
                    "text": body.get_content() if body is not None else "",
                }
            )
    print(json.dumps(out))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "serve":
        serve(sys.argv[2:])
    elif cmd == "send":
        send(*sys.argv[2:6])
    elif cmd == "fetch":
        fetch(*sys.argv[2:6])
    else:
        sys.exit("unknown command " + cmd)
