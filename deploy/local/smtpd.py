#!/usr/bin/python3
"""A real SMTP submission server for the notifier's tests (and a local try):
Debian's python3-aiosmtpd with STARTTLS (required) and AUTH PLAIN/LOGIN
(required, only after STARTTLS), storing every message it accepts in a
Maildir. Prints "listening HOST:PORT" once it accepts connections
(--port 0 picks a free port).

  deploy/local/smtpd.py --cert c.pem --key k.pem --user ioc \
      --password-file pw --maildir .local/smtp/mail [--port 2525]
"""
import argparse
import asyncio
import ssl

from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--cert", required=True, help="PEM certificate of the server (STARTTLS)")
    p.add_argument("--key", required=True, help="PEM private key of the server")
    p.add_argument("--user", required=True)
    p.add_argument("--password-file", required=True)
    p.add_argument("--maildir", required=True, help="where accepted messages are stored (Maildir: new/)")
    a = p.parse_args()
    with open(a.password_file, "rb") as f:
        password = f.read().strip()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(a.cert, a.key)

    def authenticate(server, session, envelope, mechanism, data):
        ok = isinstance(data, LoginPassword) and data.login == a.user.encode() and data.password == password
        return AuthResult(success=ok, handled=False)

    handler = Mailbox(a.maildir)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    def factory():
        return SMTP(handler, hostname="localhost", tls_context=tls, require_starttls=True,
                    auth_required=True, auth_require_tls=True, authenticator=authenticate, loop=loop)

    server = loop.run_until_complete(loop.create_server(factory, host=a.host, port=a.port))
    host, port = server.sockets[0].getsockname()[:2]
    print("listening %s:%d" % (host, port), flush=True)
    try:
        loop.run_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
