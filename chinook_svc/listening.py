"""Binding the listening socket: the address in words a person can use, a one-line failure.

:class:`ListeningService` (one process) and
:class:`~chinook_svc.workers.WorkerPoolService` (the parent of ``--workers
N``) bind with :func:`listen_now` in ``privilegedStartService``, before
twistd runs the reactor.  A socket that cannot be bound (a port in use, a
port below 1024 without the privilege, an address the machine does not
have) raises :class:`ListenFailed`: twistd then exits with status 1 after one
log line such as::

    Cannot listen on 127.0.0.1:9100: Address already in use

instead of a 40-line traceback, or a parent that stays up with no worker.
Once bound, the service logs the address as a URL, with its interface
(``http://127.0.0.1:9100`` and ``http://0.0.0.0:9100`` do not read the same),
and what it serves (:func:`serving_summary`).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from twisted.application.service import Service
from twisted.internet import endpoints
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort, IStreamServerEndpoint
from twisted.logger import Logger
from twisted.python.failure import Failure

from chinook_svc._version import __version__
from chinook_svc.settings import Settings

log = Logger()

#: How an IPv4 listener on every interface is written (only written: never bound here).
ANY_IPV4 = str(ipaddress.IPv4Address(0))


class ListenFailed(SystemExit, Exception):
    """The listening socket could not be bound; its message is one line for the log.

    Both an ``Exception`` and a ``SystemExit``: twistd handles an exception
    from ``privilegedStartService`` (it removes its PID file, and a daemon's
    parent prints the message and exits 1), then re-raises it; as a
    ``SystemExit`` with code 1 it ends the process with status 1 and no
    traceback.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.code = 1


def address_text(address: Any) -> str:
    """``host:port`` (``[host]:port`` for IPv6) or the socket's path."""
    if isinstance(address, IPv6Address):
        return f"[{address.host}]:{address.port}"
    if isinstance(address, IPv4Address):
        return f"{address.host}:{address.port}"
    if isinstance(address, UNIXAddress):
        name = address.name
        return name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
    return str(address)


def address_url(address: Any, *, tls: bool = False) -> str:
    """The URL a client would use: ``http://127.0.0.1:9100``, ``unix:/run/chinook.sock``."""
    if isinstance(address, UNIXAddress):
        return f"unix:{address_text(address)}"
    return f"{'https' if tls else 'http'}://{address_text(address)}"


def refusal_text(error: CannotListenError) -> str:
    """One line: where binding failed (interface and port, or path) and why."""
    interface = error.interface
    if error.interface is None:  # a UNIX socket: the port is its path
        where = str(error.port)
    else:
        interface = interface or ANY_IPV4  # "tcp:9100" listens on every IPv4 interface
        host = f"[{interface}]" if ":" in interface else interface
        where = f"{host}:{error.port}"
    reason = error.socketError
    because = reason.strerror if isinstance(reason, OSError) and reason.strerror else str(reason)
    return f"Cannot listen on {where}: {because}"


def listen_now(endpoint: IStreamServerEndpoint, factory: Any, description: str) -> Any:
    """Bind ``endpoint`` now and return the listening port.

    The endpoints this service uses bind synchronously (TCP, TCP6, UNIX,
    SSL); one that does not is a programming error.

    Raises:
        ListenFailed: the socket could not be bound (logged, one line).
    """
    outcome: list[Any] = []
    endpoint.listen(factory).addBoth(outcome.append)
    if not outcome:
        raise RuntimeError(f"endpoint {description!r} did not listen at once")
    result = outcome[0]
    if isinstance(result, Failure):
        if not isinstance(result.value, CannotListenError):
            result.raiseException()
        message = refusal_text(result.value)
        log.critical("{message}", message=message)
        raise ListenFailed(message)
    return result


def serving_summary(
    *, database: str, edition: str, writes: bool, auth_reads: bool, workers: int
) -> str:
    """What the service serves, for the start-up log (``database`` with its password hidden).

    The bearer token guards writes whenever they are on, and reads too with
    ``auth_reads``: ``auth off``, ``auth on (writes)``, ``auth on (reads)``
    or ``auth on (reads, writes)``.
    """
    guarded = [name for name, on in (("reads", auth_reads), ("writes", writes)) if on]
    auth = f"on ({', '.join(guarded)})" if guarded else "off"
    plural = "" if workers == 1 else "s"
    return (
        f"database {database} (edition {edition}), writes {'on' if writes else 'off'}, "
        f"auth {auth}, {workers} worker{plural}"
    )


def summary_of(settings: Settings, database: str, edition: str) -> str:
    """:func:`serving_summary` of ``settings`` (``database``: its URL, password hidden)."""
    return serving_summary(
        database=database,
        edition=edition,
        writes=settings.allow_writes,
        auth_reads=settings.auth_reads,
        workers=settings.workers,
    )


def log_listening(
    port: IListeningPort, summary: str, *, tls: bool = False, extra: str = ""
) -> None:
    """The start-up lines: version and URL (with ``extra``), then ``summary``."""
    url = address_url(port.getHost(), tls=tls)
    log.info(
        "chinook_svc {version} listening on {url}{extra}",
        version=__version__,
        url=url,
        extra=extra,
    )
    log.info("{summary}", summary=summary)


def is_tls(description: str) -> bool:
    """Whether the endpoint description is a TLS one (``ssl:`` or ``tls:``)."""
    return description.split(":", 1)[0].strip().lower() in ("ssl", "tls")


class ListeningService(Service):
    """Serves ``factory`` on the endpoint ``description``, bound before the reactor runs.

    Args:
        reactor: the reactor to listen with.
        description: a Twisted endpoint description (parsed here, so that
            a bad one fails when the service is built).
        factory: the protocol factory (the site).
        summary: what the start-up log says is served (:func:`serving_summary`).

    Raises:
        ValueError, KeyError, TypeError: a bad endpoint description.
    """

    def __init__(self, reactor: Any, description: str, factory: Any, summary: str) -> None:
        self.endpoint = endpoints.serverFromString(reactor, description)
        self.description = description
        self.factory = factory
        self.summary = summary
        self.port: Any = None

    def privilegedStartService(self) -> None:
        """Bind now (a port below 1024 while twistd still has the privilege).

        Raises:
            ListenFailed: the socket could not be bound.
        """
        super().privilegedStartService()
        self._bind()

    def startService(self) -> None:
        """Bind unless already bound; log the address and what is served."""
        super().startService()
        self._bind()

    def _bind(self) -> None:
        if self.port is None:
            self.port = listen_now(self.endpoint, self.factory, self.description)
            log_listening(self.port, self.summary, tls=is_tls(self.description))

    def stopService(self) -> Any:
        """Stop listening (a Deferred that fires once the socket is closed)."""
        super().stopService()
        port, self.port = self.port, None
        return None if port is None else port.stopListening()


__all__ = [
    "ListenFailed",
    "ListeningService",
    "address_text",
    "address_url",
    "listen_now",
    "log_listening",
    "refusal_text",
    "serving_summary",
    "summary_of",
]
