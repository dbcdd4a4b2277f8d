"""A real SMTP server for tests/notify_email.rs: aiosmtpd on 127.0.0.1, delivering into a Maildir.

Run with Debian's /usr/bin/python3 (python3-aiosmtpd). Prints the port on stdout once it
accepts connections, then serves until its stdin closes (the test ended or died) or it gets
SIGTERM.

  smtpd.py --maildir DIR --user U --password-file F --cert C --key K [--port N] [--no-starttls]

By default STARTTLS is required before anything else and AUTH (PLAIN/LOGIN) is required and
only offered over TLS, like a submission server. --no-starttls offers no STARTTLS at all
(and then AUTH in clear, which a client requiring TLS must never reach). --port N listens on
N (a restart on the port of a previous run); without it the OS assigns one.
"""

import argparse
import os
import signal
import ssl
import sys
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Maildir:
    """Writes each message's bytes as received into new/, through tmp/ (Maildir's rule)."""

    def __init__(self, root):
        self.root = root
        self.count = 0
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(root, sub), exist_ok=True)

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        name = "%d.%d_%d.mailroom-test" % (time.time_ns(), os.getpid(), self.count)
        tmp = os.path.join(self.root, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(envelope.original_content or envelope.content)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, os.path.join(self.root, "new", name))
        return "250 2.0.0 delivered to the Maildir"


class AnyPort(Controller):
    """A Controller that may listen on port 0: the port the OS picked is learnt from the
    listening socket before the Controller connects to itself to check it is up."""

    def _create_server(self):
        async def create():
            server = await self.loop.create_server(
                self._factory_invoker, host=self.hostname, port=self.port, ssl=self.ssl_context
            )
            self.port = server.sockets[0].getsockname()[1]
            return server

        return create()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--maildir", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password-file", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--no-starttls", action="store_true")
    a = p.parse_args()

    with open(a.password_file, "rb") as f:
        password = f.read().strip()
    user = a.user.encode()

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user
            and auth_data.password == password
        )
        return AuthResult(success=ok, handled=False)

    starttls = not a.no_starttls
    tls = None
    if starttls:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(a.cert, a.key)
    controller = AnyPort(
        Maildir(a.maildir),
        hostname="127.0.0.1",
        port=a.port,
        server_hostname="mailroom-test-smtpd",
        tls_context=tls,
        require_starttls=starttls,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=starttls,
    )
    controller.start()
    print(controller.port, flush=True)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait()
    controller.stop()


if __name__ == "__main__":
    main()
