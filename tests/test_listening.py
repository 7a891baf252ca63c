"""The listening socket in words: refusals, URLs and the start-up summary.

The real refusals (a port in use, for one process, ``--workers 2`` and the
``.tac``) are in ``tests/test_startup.py``; these check the wording of every
kind of address, and the service's lines on a bind that works.
"""

from __future__ import annotations

import errno
import socket

import pytest
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.error import CannotListenError
from twisted.internet.protocol import Factory
from twisted.internet.testing import MemoryReactor
from twisted.logger import capturedLogs, formatEvent

from chinook_svc import __version__
from chinook_svc.listening import (
    ListenFailed,
    ListeningService,
    address_url,
    listen_now,
    refusal_text,
    serving_summary,
)


def in_use() -> OSError:
    """The socket error of a port in use."""
    return OSError(errno.EADDRINUSE, "Address already in use")


@pytest.mark.parametrize(
    ("interface", "port", "where"),
    [
        ("127.0.0.1", 9100, "127.0.0.1:9100"),
        ("", 9100, "0.0.0.0:9100"),  # tcp:9100 listens on every IPv4 interface
        ("::", 9100, "[::]:9100"),
        ("::1", 9100, "[::1]:9100"),
        (None, "/run/chinook.sock", "/run/chinook.sock"),
    ],
)
def test_refusal_names_interface_and_port(interface: str | None, port: object, where: str) -> None:
    """The refusal names the interface (all of them as 0.0.0.0) and the port, and the reason."""
    text = refusal_text(CannotListenError(interface, port, in_use()))
    assert text == f"Cannot listen on {where}: Address already in use"


@pytest.mark.parametrize(
    ("address", "url"),
    [
        (IPv4Address("TCP", "127.0.0.1", 9100), "http://127.0.0.1:9100"),
        (IPv4Address("TCP", "0.0.0.0", 9100), "http://0.0.0.0:9100"),
        (IPv6Address("TCP", "::1", 9100), "http://[::1]:9100"),
        (UNIXAddress(b"/run/chinook.sock"), "unix:/run/chinook.sock"),
    ],
)
def test_address_url(address: object, url: str) -> None:
    """The bound address as a client would write it."""
    assert address_url(address) == url


def test_address_url_tls() -> None:
    """A TLS endpoint's URL says https."""
    assert address_url(IPv4Address("TCP", "10.0.0.5", 443), tls=True) == "https://10.0.0.5:443"


@pytest.mark.parametrize(
    ("writes", "auth_reads", "auth"),
    [(False, False, "off"), (True, False, "on (writes)"), (False, True, "on (reads)"),
     (True, True, "on (reads, writes)")],
)  # fmt: skip
def test_summary_says_what_the_token_guards(writes: bool, auth_reads: bool, auth: str) -> None:
    """Writes on/off, what the bearer token guards, the workers."""
    text = serving_summary(
        database="postgresql://u:***@db/chinook",
        edition="lerocha_snake",
        writes=writes,
        auth_reads=auth_reads,
        workers=2,
    )
    assert text == (
        "database postgresql://u:***@db/chinook (edition lerocha_snake), "
        f"writes {'on' if writes else 'off'}, auth {auth}, 2 workers"
    )


def test_service_binds_before_the_reactor_runs_and_logs_its_address() -> None:
    """privilegedStartService binds; the log has the version, the URL and the summary."""
    reactor = MemoryReactor()
    service = ListeningService(reactor, "tcp:9100:interface=127.0.0.1", Factory(), "the summary")
    with capturedLogs() as events:
        service.privilegedStartService()
        service.startService()  # already bound: not a second port
    assert [(port, interface) for port, _, _, interface in reactor.tcpServers] == [
        (9100, "127.0.0.1")
    ]
    # (a memory port's getHost() is 0.0.0.0; test_startup checks the real interface)
    assert [formatEvent(e) for e in events] == [
        f"chinook_svc {__version__} listening on http://0.0.0.0:9100",
        "the summary",
    ]
    service.stopService()
    assert service.port is None


def test_listen_now_on_a_port_in_use_raises_listen_failed() -> None:
    """A real port in use: ListenFailed, status 1, the one line as its message, logged critical."""
    from twisted.internet import reactor
    from twisted.internet.endpoints import TCP4ServerEndpoint

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        endpoint = TCP4ServerEndpoint(reactor, port, interface="127.0.0.1")
        with capturedLogs() as events, pytest.raises(ListenFailed) as caught:
            listen_now(endpoint, Factory(), f"tcp:{port}")
    assert isinstance(caught.value, SystemExit) and isinstance(caught.value, Exception)
    assert caught.value.code == 1
    message = f"Cannot listen on 127.0.0.1:{port}: Address already in use"
    assert str(caught.value) == message
    assert [e["message"] for e in events if e["log_level"].name == "critical"] == [message]
