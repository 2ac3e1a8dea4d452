"""The SMTP transport against a real aiosmtpd server on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.delivery.smtp_server import Recorder, Rules, Server
from worker.delivery.smtp import SmtpConfig, SmtpTransport, send_parts, wire_bytes

MESSAGE = (
    b"From: daily@example.org\r\nTo: {to}\r\nSubject: hi\r\nMessage-ID: <m1@example.org>\r\n\r\n"
    b"line one\r\n.leading dot\r\n..two dots\r\nend"
)


def message(to: str) -> bytes:
    return MESSAGE.replace(b"{to}", to.encode())


def test_wire_bytes_stuffs_dots_and_normalises_line_ends() -> None:
    assert wire_bytes(b"a\n.b\r\nc") == b"a\r\n..b\r\nc\r\n.\r\n"
    assert wire_bytes(b"x\r\n") == b"x\r\n.\r\n"


def test_smtp_url_parsing() -> None:
    c = SmtpConfig.from_url("smtp://us%40r:p%3Ass@relay.example.org:587?starttls=1&verify=0")
    assert (c.host, c.port, c.username, c.password, c.starttls, c.verify) == (
        "relay.example.org",
        587,
        "us@r",
        "p:ss",
        True,
        False,
    )
    s = SmtpConfig.from_url("smtps://relay.example.org")
    assert (s.port, s.implicit_tls, s.starttls) == (465, True, False)
    with pytest.raises(ValueError):
        SmtpConfig.from_url("http://relay")


@pytest.mark.parametrize("pipelining", [True, False])
def test_messages_arrive_intact_over_one_connection(pipelining: bool) -> None:
    recorder = Recorder(Rules(pipelining=pipelining))
    with Server(recorder) as server:
        transport = SmtpTransport(SmtpConfig.from_url(server.url))
        for i in range(5):
            result = transport.send("bounce@example.org", f"r{i}@example.net", message(f"r{i}"))
            assert result.outcome == "sent" and result.code == 250
        assert transport.pipelining is pipelining
        transport.close()
    assert recorder.connections == 1
    assert [rcpt for rcpt, _ in recorder.messages] == [f"r{i}@example.net" for i in range(5)]
    body = recorder.messages[0][1]
    assert body.endswith(b"line one\r\n.leading dot\r\n..two dots\r\nend\r\n")


@pytest.mark.parametrize("pipelining", [True, False])
def test_refusals_are_classified_and_connection_stays_usable(pipelining: bool) -> None:
    rules = Rules(pipelining=pipelining, tempfail=r"^grey", reject=r"^gone")
    recorder = Recorder(rules)
    with Server(recorder) as server:
        transport = SmtpTransport(SmtpConfig.from_url(server.url))
        grey = transport.send("b@example.org", "grey@example.net", message("grey"))
        gone = transport.send("b@example.org", "gone@example.net", message("gone"))
        fine = transport.send("b@example.org", "fine@example.net", message("fine"))
        grey_again = transport.send("b@example.org", "grey@example.net", message("grey"))
        transport.close()
    assert (grey.outcome, grey.code, grey.suppress) == ("transient", 451, False)
    assert (gone.outcome, gone.code, gone.suppress) == ("permanent", 550, True)
    assert "no such user" in gone.reply
    assert fine.outcome == "sent" and grey_again.outcome == "sent"
    assert recorder.connections == 1
    assert [rcpt for rcpt, _ in recorder.messages] == ["fine@example.net", "grey@example.net"]


def test_drop_before_data_reconnects_and_delivers() -> None:
    recorder = Recorder(Rules(drop_before_data=r"^flaky"))
    with Server(recorder) as server:
        transport = SmtpTransport(SmtpConfig.from_url(server.url))
        assert transport.send("b@example.org", "first@example.net", message("1")).outcome == "sent"
        result = transport.send("b@example.org", "flaky@example.net", message("2"))
        transport.close()
    assert result.outcome == "sent"
    assert recorder.connections == 2
    assert [rcpt for rcpt, _ in recorder.messages] == ["first@example.net", "flaky@example.net"]


def test_drop_after_data_is_an_unknown_outcome_not_retried() -> None:
    recorder = Recorder(Rules(drop_after_data=r"^lost"))
    with Server(recorder) as server:
        transport = SmtpTransport(SmtpConfig.from_url(server.url))
        result = transport.send("b@example.org", "lost@example.net", message("x"))
        after = transport.send("b@example.org", "next@example.net", message("y"))
        transport.close()
    assert result.outcome == "unknown"
    assert after.outcome == "sent"
    # the relay has it exactly once: the transport did not retry on its own
    assert [rcpt for rcpt, _ in recorder.messages] == ["lost@example.net", "next@example.net"]


def test_unreachable_relay_is_transient() -> None:
    from tests.delivery.smtp_server import free_port

    transport = SmtpTransport(SmtpConfig.from_url(f"smtp://127.0.0.1:{free_port()}?timeout=2"))
    result = transport.send("b@example.org", "x@example.net", message("x"))
    assert (result.outcome, result.stage) == ("transient", "connect")


def _self_signed(tmp_path: Path) -> ssl.SSLContext:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return context


def test_starttls_and_auth(tmp_path: Path) -> None:
    seen: list[tuple[str, str]] = []

    def authenticator(server, session, envelope, mechanism, data):  # type: ignore[no-untyped-def]
        if isinstance(data, LoginPassword):
            seen.append((data.login.decode(), data.password.decode()))
            return AuthResult(success=data.password == b"s3cret")
        return AuthResult(success=False)

    recorder = Recorder(Rules())
    context = _self_signed(tmp_path)
    with Server(
        recorder,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    ) as server:
        url = f"smtp://ops:s3cret@127.0.0.1:{server.port}?starttls=1&verify=0"
        transport = SmtpTransport(SmtpConfig.from_url(url))
        result = transport.send("b@example.org", "tls@example.net", message("tls"))
        transport.close()
        bad_url = url.replace("s3cret", "wrong") + "&timeout=2"
        bad = SmtpTransport(SmtpConfig.from_url(bad_url))
        refused = bad.send("b@example.org", "tls@example.net", message("tls"))
    assert result.outcome == "sent"
    assert seen[0] == ("ops", "s3cret")
    assert refused.outcome == "transient" and refused.stage == "connect"
    assert [rcpt for rcpt, _ in recorder.messages] == ["tls@example.net"]


def test_next_envelope_rides_with_the_body() -> None:
    recorder = Recorder(Rules(reject=r"^gone"))
    with Server(recorder) as server:
        transport = SmtpTransport(SmtpConfig.from_url(server.url))
        order = ["a@example.net", "gone@example.net", "b@example.net", "c@example.net"]
        results = []
        for i, rcpt in enumerate(order):
            following = order[i + 1] if i + 1 < len(order) else None
            lookahead = ("b@example.org", following, 500, True) if following else None
            results.append(transport.send("b@example.org", rcpt, message(rcpt), lookahead))
        # announced but never followed up: the half-open transaction is abandoned, not sent
        first = transport.send(
            "b@example.org", "d@example.net", message("d"), _env("x@example.net")
        )
        other = transport.send("b@example.org", "e@example.net", message("e"))
        transport.close()
    assert [r.outcome for r in results] == ["sent", "permanent", "sent", "sent"]
    assert results[1].suppress
    assert first.outcome == "sent" and other.outcome == "sent"
    assert [rcpt for rcpt, _ in recorder.messages] == [
        "a@example.net",
        "b@example.net",
        "c@example.net",
        "d@example.net",
        "e@example.net",
    ]
    assert recorder.connections == 2  # the second after abandoning x@example.net


def _env(rcpt: str) -> tuple[str, str, int, bool]:
    return ("b@example.org", rcpt, 500, True)


def test_send_parts_survives_partial_sends() -> None:
    """sendmsg may take only part of the pieces (a small send buffer): the rest still goes,
    in order, nothing twice."""
    left, right = socket.socketpair()
    left.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    left.settimeout(10)
    parts = [bytes(range(256)) * 700, b"", b".\r\n", b"MAIL FROM:<b@example.org>\r\n" * 50]
    received = bytearray()

    def drain() -> None:
        while chunk := right.recv(1000):
            received.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    send_parts(left, parts)
    left.close()
    reader.join(10)
    right.close()
    assert bytes(received) == b"".join(parts)
