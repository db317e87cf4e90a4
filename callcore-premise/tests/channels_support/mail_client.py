"""A customer's mail client for the e-mail channel tests, on Python's smtplib
and imaplib (the peers' own protocol stacks, not ours).

    mail_client.py send SMTP_PORT FROM TO < raw-message
    mail_client.py fetch IMAP_PORT USER PASSWORD   -> JSON list of messages
"""

import email
import email.policy
import imaplib
import json
import smtplib
import sys


def send(port, sender, to):
    raw = sys.stdin.buffer.read()
    with smtplib.SMTP("127.0.0.1", int(port), timeout=10) as s:
        s.login(sender, "secret")
        s.sendmail(sender, [to], raw)


def fetch(port, user, password):
    out = []
    with imaplib.IMAP4("127.0.0.1", int(port), timeout=10) as m:
        m.login(user, password)
        m.select("INBOX", readonly=True)
        _, data = m.search(None, "ALL")
        for num in data[0].split():
            _, parts = m.fetch(num, "(BODY.PEEK[])")
            raw = parts[0][1]
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            body = msg.get_body(preferencelist=("plain",))
            out.append(
                {
                    "from": str(msg.get("From", "")),
                    "subject": str(msg.get("Subject", "")),
                    "message_id": str(msg.get("Message-ID", "")),
                    "in_reply_to": str(msg.get("In-Reply-To", "")),
                    "references": str(msg.get("References", "")),
                    "auto_submitted": str(msg.get("Auto-Submitted", "")),
                    "text": body.get_content() if body is not None else "",
                }
            )
    print(json.dumps(out))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "send":
        send(*sys.argv[2:5])
    elif cmd == "fetch":
        fetch(*sys.argv[2:5])
    else:
        sys.exit("unknown command " + cmd)
