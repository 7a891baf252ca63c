"""One new connection per wake-up on a listening socket shared by workers.

A real loopback socket holds a backlog of finished handshakes; the port is
adopted by a ``MemoryReactor`` (it registers readers but never runs), and the
test calls ``doRead`` itself, as the reactor would when the socket turns
readable.  Twisted alone takes the whole backlog in one call, which is what
lets the first worker to wake keep every keep-alive connection of a burst.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.tcp import Port
from twisted.internet.testing import MemoryReactor

from chinook_svc.services import accept_one_at_a_time


class Accepted(Factory):
    """Remembers every connection it was asked to serve."""

    def __init__(self) -> None:
        self.peers: list[IPv4Address] = []

    def buildProtocol(self, addr: IPv4Address) -> Protocol:  # type: ignore[override]
        self.peers.append(addr)
        return Protocol()


@pytest.fixture
def backlog() -> Iterator[tuple[socket.socket, list[socket.socket]]]:
    """A listening socket with ten connections waiting in its accept queue."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(50)
    listener.setblocking(False)
    clients = [socket.create_connection(listener.getsockname()) for _ in range(10)]
    try:
        yield listener, clients
    finally:
        for client in clients:
            client.close()
        listener.close()


def adopt(listener: socket.socket, factory: Accepted) -> Port:
    reactor = MemoryReactor()
    port = Port._fromListeningDescriptor(reactor, listener.fileno(), socket.AF_INET, factory)
    port.startListening()
    return port


def test_twisted_alone_takes_the_whole_backlog(backlog) -> None:  # type: ignore[no-untyped-def]
    """The premise: one readiness event, every waiting connection accepted."""
    listener, _ = backlog
    factory = Accepted()
    port = adopt(listener, factory)
    port.doRead()
    assert len(factory.peers) == 10


def test_one_connection_per_wake_up(backlog) -> None:  # type: ignore[no-untyped-def]
    """With the change each event takes one; the rest stay for any worker to take."""
    listener, _ = backlog
    factory = Accepted()
    port = adopt(listener, factory)
    accept_one_at_a_time(port)
    port.doRead()
    assert len(factory.peers) == 1
    for taken in range(2, 11):
        port.doRead()
        assert len(factory.peers) == taken
    port.doRead()  # nothing left waiting: no error, nothing accepted
    assert len(factory.peers) == 10


def test_ports_without_accept_batches_are_left_alone() -> None:
    """A port that has no ``numberAccepts`` (not a TCP port) is not touched."""

    class Other:
        def doRead(self) -> None:
            pass

    other = Other()
    accept_one_at_a_time(other)
    assert "doRead" not in vars(other)
