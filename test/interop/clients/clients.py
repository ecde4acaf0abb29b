#!/usr/bin/env python3
"""Real protocol clients for the interop tests: python's poplib, smtplib and nntplib.

Each subcommand talks to HOST:PORT (a roamgate adapter or a server directly) and
prints one JSON object on stdout. Raw message lines are returned base64-encoded
so the caller can compare bytes exactly.

  pop3 HOST PORT USER PASSWORD                    USER/PASS, STAT, LIST, RETR of every message
  pop3-wrong-password HOST PORT USER PASSWORD     the -ERR that PASS gets
  pop3-greeting HOST PORT
  pop3-login HOST PORT USER PASSWORD              USER/PASS only: the first -ERR and its command, or STAT
  smtp HOST PORT SENDER RECIPIENT FILE            EHLO and the message, no AUTH
  smtp-auth HOST PORT USER PASSWORD SENDER RECIPIENT FILE
  nntp-read HOST PORT GROUP MESSAGE-ID            LIST, GROUP, ARTICLE without AUTHINFO
  nntp-post HOST PORT FILE
  nntp-auth-read HOST PORT USER PASSWORD GROUP MESSAGE-ID   AUTHINFO, GROUP, ARTICLE
  nntp-auth-post HOST PORT USER PASSWORD FILE
  imap-read HOST PORT USER PASSWORD MECHANISM MAILBOX   LOGIN or AUTHENTICATE PLAIN (MECHANISM login|plain), SELECT,
                                                  FETCH of every message (BODY.PEEK[]), LOGOUT
  imap-login HOST PORT USER PASSWORD MECHANISM    the login only: its answer, or the error imaplib raised
  imap-append HOST PORT USER PASSWORD MAILBOX FILE  APPEND (a literal), then FETCH of the mailbox's last message
  imap-idle HOST PORT USER PASSWORD MAILBOX FILE  IDLE on one connection while a second one APPENDs; what IDLE saw

ROAMGATE_TLS (below) applies to pop3, pop3-wrong-password, pop3-login, smtp-auth, nntp-auth-* and imap-*.
"""
import base64
import imaplib
import json
import os
import socket
import ssl
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


# ROAMGATE_TLS=starttls makes the subcommands that log in ask for STLS/STARTTLS right after the
# greeting (and CAPABILITIES); ROAMGATE_TLS=implicit speaks TLS from the first byte (POP3_SSL,
# SMTP_SSL, NNTP_SSL). The server's certificate is verified against ROAMGATE_CAFILE, for the name
# ROAMGATE_TLS_SERVERNAME (default: the host connected to). Unset: plain TCP, as before.
_TLS = os.environ.get("ROAMGATE_TLS")
if _TLS not in (None, "", "starttls", "implicit"):
    sys.exit(f"ROAMGATE_TLS must be starttls or implicit, not {_TLS!r}")
_SERVERNAME = os.environ.get("ROAMGATE_TLS_SERVERNAME")


class _VerifyingContext(ssl.SSLContext):
    """Verifies the certificate for ROAMGATE_TLS_SERVERNAME whatever host name the library passes."""

    def wrap_socket(self, sock, *args, **kwargs):
        if _SERVERNAME:
            kwargs["server_hostname"] = _SERVERNAME
        return super().wrap_socket(sock, *args, **kwargs)


def tls_context():
    context = _VerifyingContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname
    context.load_verify_locations(cafile=os.environ["ROAMGATE_CAFILE"])
    return context


def tls_version(sock):
    """The TLS version of a connection (`TLSv1.3`), or None for plain TCP."""
    return sock.version() if isinstance(sock, ssl.SSLSocket) else None


def b64lines(lines):
    return base64.b64encode(b"\r\n".join(lines)).decode()


def pop3_connect(host, port):
    """poplib.POP3, or POP3_SSL, or POP3 then STLS, as ROAMGATE_TLS says."""
    if _TLS == "implicit":
        return poplib.POP3_SSL(host, int(port), timeout=TIMEOUT, context=tls_context())
    box = poplib.POP3(host, int(port), timeout=TIMEOUT)
    if _TLS == "starttls":
        box.stls(tls_context())
    return box


def pop3(host, port, user, password):
    box = pop3_connect(host, port)
    greeting = box.getwelcome().decode("latin1")
    tls = tls_version(box.sock)
    box.user(user)
    box.pass_(password)
    count, size = box.stat()
    listing = [line.decode() for line in box.list()[1]]
    messages = [b64lines(box.retr(i + 1)[1]) for i in range(count)]
    box.quit()
    result = {"greeting": greeting, "count": count, "size": size, "list": listing, "messages": messages}
    if _TLS:
        result["tls"] = tls
    return result


def pop3_wrong_password(host, port, user, password):
    box = pop3_connect(host, port)
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


def pop3_login(host, port, user, password):
    """USER and PASS only; reports the first -ERR and the command that got it, or STAT after the login."""
    box = pop3_connect(host, port)
    tls = tls_version(box.sock)
    for command, call in (("USER", lambda: box.user(user)), ("PASS", lambda: box.pass_(password))):
        try:
            call()
        except poplib.error_proto as error:
            box.close()
            return {"tls": tls, "command": command, "error": error.args[0].decode("latin1")}
    count, size = box.stat()
    box.quit()
    return {"tls": tls, "count": count, "size": size}


def smtp_auth(host, port, user, password, sender, recipient, path):
    """EHLO, (STARTTLS and EHLO again,) AUTH with smtplib's choice of mechanism, then the message."""
    with open(path, "rb") as handle:
        message = handle.read()
    if _TLS == "implicit":
        client = smtplib.SMTP_SSL(host, int(port), timeout=TIMEOUT, context=tls_context())
    else:
        client = smtplib.SMTP(host, int(port), timeout=TIMEOUT)
    client.ehlo("interop.example.test")
    if _TLS == "starttls":
        client.starttls(context=tls_context())
        client.ehlo("interop.example.test")
    tls = tls_version(client.sock)
    try:
        auth = client.login(user, password)
    except smtplib.SMTPResponseException as error:
        client.close()
        return {"tls": tls, "exception": type(error).__name__, "code": error.smtp_code, "message": error.smtp_error.decode("latin1")}
    refused = client.sendmail(sender, [recipient], message)
    client.quit()
    return {"tls": tls, "auth": [auth[0], auth[1].decode("latin1")], "refused": refused}


def nntp_connect(host, port, user, password):
    """nntplib with readermode and AUTHINFO, over NNTP_SSL or after STARTTLS as ROAMGATE_TLS says."""
    if _TLS == "implicit":
        return nntplib.NNTP_SSL(host, int(port), user, password, ssl_context=tls_context(), readermode=True, timeout=TIMEOUT)
    if _TLS == "starttls":
        server = nntplib.NNTP(host, int(port), readermode=True, timeout=TIMEOUT)
        server.starttls(tls_context())
        server.login(user, password, usenetrc=False)
        return server
    return nntplib.NNTP(host, int(port), user, password, readermode=True, timeout=TIMEOUT)


def nntp_auth_read(host, port, user, password, group, message_id):
    server = nntp_connect(host, port, user, password)
    tls = tls_version(server.sock)
    _resp, count, first, last, name = server.group(group)
    _resp, info = server.article(message_id)
    server.quit()
    return {"tls": tls, "count": count, "first": first, "last": last, "name": name, "article": b64lines(info.lines)}


def nntp_auth_post(host, port, user, password, path):
    with open(path, "rb") as handle:
        article = handle.read()
    server = nntp_connect(host, port, user, password)
    tls = tls_version(server.sock)
    response = server.post(article)
    server.quit()
    return {"tls": tls, "response": response}


def imap_connect(host, port):
    """imaplib.IMAP4, or IMAP4_SSL, or IMAP4 then STARTTLS, as ROAMGATE_TLS says."""
    if _TLS == "implicit":
        return imaplib.IMAP4_SSL(host, int(port), ssl_context=tls_context(), timeout=TIMEOUT)
    box = imaplib.IMAP4(host, int(port), timeout=TIMEOUT)
    if _TLS == "starttls":
        box.starttls(ssl_context=tls_context())
    return box


def imap_log_in(box, user, password, mechanism):
    """LOGIN (imaplib quotes the arguments), or AUTHENTICATE PLAIN answering the server's `+`."""
    if mechanism == "plain":
        return box.authenticate("PLAIN", lambda _challenge: f"\0{user}\0{password}".encode())
    return box.login(user, password)


def imap_read(host, port, user, password, mechanism, mailbox):
    box = imap_connect(host, port)
    greeting = box.welcome.decode("latin1")
    tls = tls_version(box.sock)
    typ, data = imap_log_in(box, user, password, mechanism)
    # What the login's OK carried ([CAPABILITY ...]), then what CAPABILITY says now.
    login_code = box.untagged_responses.get("CAPABILITY", [b""])[-1].decode("latin1")
    _typ, capability = box.capability()
    _typ, count = box.select(mailbox, readonly=True)
    messages = []
    for number in range(1, int(count[0]) + 1):
        _typ, fetched = box.fetch(str(number), "(BODY.PEEK[])")
        messages.append(base64.b64encode(fetched[0][1]).decode())
    box.logout()
    return {
        "greeting": greeting,
        "tls": tls,
        "login": [typ, data[0].decode("latin1")],
        "loginCapabilities": login_code,
        "capabilities": capability[0].decode("latin1"),
        "count": int(count[0]),
        "messages": messages,
    }


def imap_login(host, port, user, password, mechanism):
    box = imap_connect(host, port)
    tls = tls_version(box.sock)
    try:
        typ, data = imap_log_in(box, user, password, mechanism)
    except (imaplib.IMAP4.error, imaplib.IMAP4.abort) as error:
        return {"tls": tls, "exception": type(error).__name__, "message": str(error)}
    box.logout()
    return {"tls": tls, "login": [typ, data[0].decode("latin1")]}


def imap_append(host, port, user, password, mailbox, path):
    with open(path, "rb") as handle:
        message = handle.read()
    box = imap_connect(host, port)
    tls = tls_version(box.sock)
    imap_log_in(box, user, password, "login")
    appended = box.append(mailbox, None, None, message)
    _typ, count = box.select(mailbox, readonly=True)
    _typ, fetched = box.fetch(count[0].decode(), "(BODY.PEEK[])")
    box.logout()
    return {"tls": tls, "append": [appended[0], appended[1][0].decode("latin1")], "message": base64.b64encode(fetched[0][1]).decode()}


def imap_idle(host, port, user, password, mailbox, path):
    """IDLE (RFC 2177) by hand (imaplib has no idle() before 3.14); a second session APPENDs meanwhile."""
    with open(path, "rb") as handle:
        message = handle.read()
    box = imap_connect(host, port)
    imap_log_in(box, user, password, "login")
    box.select(mailbox)
    tag = box._new_tag()
    box.send(tag + b" IDLE\r\n")
    continuation = box.readline().decode("latin1").rstrip("\r\n")
    other = imap_connect(host, port)
    imap_log_in(other, user, password, "login")
    other.append(mailbox, None, None, message)
    other.logout()
    seen = []
    while not any(line.endswith(" EXISTS") for line in seen):
        seen.append(box.readline().decode("latin1").rstrip("\r\n"))
    box.send(b"DONE\r\n")
    done = box.readline().decode("latin1").rstrip("\r\n")
    while not done.startswith(tag.decode()):
        done = box.readline().decode("latin1").rstrip("\r\n")
    box.logout()
    return {"continuation": continuation, "seen": seen, "done": done}


COMMANDS = {
    "pop3": pop3,
    "pop3-wrong-password": pop3_wrong_password,
    "pop3-greeting": pop3_greeting,
    "smtp": smtp,
    "nntp-read": nntp_read,
    "nntp-post": nntp_post,
    "pop3-login": pop3_login,
    "smtp-auth": smtp_auth,
    "nntp-auth-read": nntp_auth_read,
    "nntp-auth-post": nntp_auth_post,
    "imap-read": imap_read,
    "imap-login": imap_login,
    "imap-append": imap_append,
    "imap-idle": imap_idle,
}

if __name__ == "__main__":
    try:
        result = COMMANDS[sys.argv[1]](*sys.argv[2:])
    except (smtplib.SMTPException, nntplib.NNTPError, poplib.error_proto, imaplib.IMAP4.error, OSError) as error:
        result = {"exception": type(error).__name__, "message": str(error)}
    print(json.dumps(result))
