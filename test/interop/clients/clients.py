#!/usr/bin/env python3
"""Real protocol clients for the interop tests: python's poplib, smtplib and nntplib.

Each subcommand talks to HOST:PORT (a roamgate adapter or a server directly) and
prints one JSON object on stdout. Raw message lines are returned base64-encoded
so the caller can compare bytes exactly.
"""
import base64
import json
import os
import socket
import sys
import warnings

warnings.filterwarnings("ignore", category=DeprecationWarning)
import nntplib  # noqa: E402  (deprecated in 3.11, still shipped)
import poplib  # noqa: E402
import smtplib  # noqa: E402

TIMEOUT = 20

# ROAMGATE_SOURCE_ADDRESS=127.0.0.2 makes every client connect from that loopback address,
# so tests can act as several terminals (roamgate binds a lease to the address a login came from).
_SOURCE = os.environ.get("ROAMGATE_SOURCE_ADDRESS")
if _SOURCE:
    _create_connection = socket.create_connection

    def _from_source(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None, **kwargs):
        return _create_connection(address, timeout, (_SOURCE, 0), **kwargs)

    socket.create_connection = _from_source


def b64lines(lines):
    return base64.b64encode(b"\r\n".join(lines)).decode()


def pop3(host, port, user, password):
    box = poplib.POP3(host, int(port), timeout=TIMEOUT)
    greeting = box.getwelcome().decode("latin1")
    box.user(user)
    box.pass_(password)
    count, size = box.stat()
    listing = [line.decode() for line in box.list()[1]]
    messages = [b64lines(box.retr(i + 1)[1]) for i in range(count)]
    box.quit()
    return {"greeting": greeting, "count": count, "size": size, "list": listing, "messages": messages}


def pop3_wrong_password(host, port, user, password):
    box = poplib.POP3(host, int(port), timeout=TIMEOUT)
    box.user(user)
    try:
        box.pass_(password)
    except poplib.error_proto as error:
        return {"error": error.args[0].decode("latin1")}
    return {"error": None}


def pop3_greeting(host, port):
    try:
        box = poplib.POP3(host, int(port), timeout=TIMEOUT)
    except poplib.error_proto as error:
        return {"error": error.args[0].decode("latin1")}
    greeting = box.getwelcome().decode("latin1")
    box.quit()
    return {"greeting": greeting}


def smtp(host, port, sender, recipient, path):
    with open(path, "rb") as handle:
        message = handle.read()
    client = smtplib.SMTP(host, int(port), timeout=TIMEOUT)
    code, banner = client.ehlo("interop.example.test")
    refused = client.sendmail(sender, [recipient], message)
    client.quit()
    return {"ehlo": code, "banner": banner.decode("latin1"), "refused": refused}


def nntp_read(host, port, group, message_id):
    server = nntplib.NNTP(host, int(port), timeout=TIMEOUT, readermode=True)
    groups = [info.group for info in server.list()[1]]
    _resp, count, first, last, name = server.group(group)
    _resp, info = server.article(message_id)
    server.quit()
    return {"groups": groups, "count": count, "first": first, "last": last, "name": name, "article": b64lines(info.lines)}


def nntp_post(host, port, path):
    with open(path, "rb") as handle:
        article = handle.read()
    server = nntplib.NNTP(host, int(port), timeout=TIMEOUT, readermode=True)
    response = server.post(article)
    server.quit()
    return {"response": response}


COMMANDS = {
    "pop3": pop3,
    "pop3-wrong-password": pop3_wrong_password,
    "pop3-greeting": pop3_greeting,
    "smtp": smtp,
    "nntp-read": nntp_read,
    "nntp-post": nntp_post,
}

if __name__ == "__main__":
    try:
        result = COMMANDS[sys.argv[1]](*sys.argv[2:])
    except (smtplib.SMTPException, nntplib.NNTPError, poplib.error_proto, OSError) as error:
        result = {"exception": type(error).__name__, "message": str(error)}
    print(json.dumps(result))
