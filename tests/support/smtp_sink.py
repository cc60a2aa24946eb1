"""A local SMTP server for the tests (Debian python3-aiosmtpd).

Usage: smtp_sink.py PORT OUT_DIR
Every message received is written to OUT_DIR as one JSON file (envelope, decoded subject,
Message-ID, text and HTML parts). Prints "ready" once listening; runs until killed or until
its standard input closes.
"""

import email
import json
import os
import sys
import uuid
from email import policy

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, out_dir):
        self.out_dir = out_dir

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        text = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": str(msg["subject"]),
            "message_id": str(msg["message-id"]),
            "content_type": msg.get_content_type(),
            "text": text.get_content() if text is not None else None,
            "html": html.get_content() if html is not None else None,
        }
        name = uuid.uuid4().hex
        tmp = os.path.join(self.out_dir, name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f, ensure_ascii=False)
        os.rename(tmp, os.path.join(self.out_dir, name + ".json"))
        return "250 Message accepted"


def main():
    port = int(sys.argv[1])
    out_dir = sys.argv[2]
    controller = Controller(Sink(out_dir), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
