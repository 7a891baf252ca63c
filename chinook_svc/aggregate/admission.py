"""Who may start upstream calls, and how many: the bounds of the fan-out, shared fairly.

Three bounds, each with its own job:

* :class:`CallBudget`: upstream calls in flight across all requests
  (``max_in_flight``) and for the requests of one client address
  (``per_client``).  A request *reserves* its slots when it arrives, all or
  nothing: as many as it will ever run at once (its calls, at most the
  per-request bound).  If the client's share or the whole budget cannot give
  them, the request is refused at once (:class:`ClientBusy`,
  :class:`Overloaded`); it never waits behind another request's calls, so one
  caller's slow upstream cannot hold up anybody else's.  Slots go back as soon
  as the request can no longer use them (its last calls are running), not
  when the whole request ends.
* the per-request bound is a plain ``DeferredSemaphore`` of the reservation's
  size, in :mod:`chinook_svc.aggregate.fanout`: a request with more calls than
  slots runs them in its own waves.
* :class:`HostConnections`: connections open at once to one upstream host
  (``per_host``); a call over it waits for one of that host's connections,
  within its request's deadline.  The connection pool keeps as many idle
  connections per host for reuse.
"""

from __future__ import annotations

from attrs import define, field
from hyperlink import DecodedURL
from twisted.internet.defer import DeferredSemaphore


class Refused(Exception):
    """A request cannot have the upstream slots it needs right now."""


class Overloaded(Refused):
    """Every upstream slot of the service is taken (answered with 503)."""


class ClientBusy(Refused):
    """The client's share of the upstream slots is taken (answered with 429)."""


@define
class CallBudget:
    """Upstream call slots, shared by all requests, with a cap per client.

    Args:
        limit: slots in all.
        per_client: slots the requests of one client may hold together.
    """

    limit: int
    per_client: int
    used: int = 0
    _held: dict[str, int] = field(factory=dict)

    def held_by(self, client: str) -> int:
        """The slots the requests of ``client`` hold now."""
        return self._held.get(client, 0)

    def reserve(self, client: str, wanted: int) -> Reservation:
        """Take ``wanted`` slots for one request of ``client`` (fewer if a cap is lower).

        Raises:
            ClientBusy: the client's share has not that many slots left.
            Overloaded: the budget has not that many slots left.
        """
        size = max(1, min(wanted, self.per_client, self.limit))
        held = self.held_by(client)
        if held + size > self.per_client:
            raise ClientBusy(f"{held} of {self.per_client} slots taken by the client")
        if self.used + size > self.limit:
            raise Overloaded(f"{self.used} of {self.limit} slots taken")
        self.used += size
        self._held[client] = held + size
        return Reservation(self, client, size)

    def _give_back(self, client: str, count: int) -> None:
        self.used -= count
        left = self._held[client] - count
        if left:
            self._held[client] = left
        else:
            del self._held[client]


@define
class Reservation:
    """The slots one request holds; :meth:`shrink_to` and :meth:`close` give them back."""

    _budget: CallBudget
    client: str
    size: int

    def shrink_to(self, count: int) -> None:
        """Keep at most ``count`` slots, giving the others back."""
        if count < self.size:
            self._budget._give_back(self.client, self.size - count)
            self.size = count

    def close(self) -> None:
        """Give every slot back."""
        self.shrink_to(0)


def host_of(url: DecodedURL) -> str:
    """What connections are shared by: scheme, host and port, e.g. ``http://h:8080``.

    Read from the encoded URL: ``DecodedURL.host`` runs IDNA each time (0.08 ms).
    """
    encoded = url.encoded_url
    return f"{encoded.scheme}://{encoded.host}:{encoded.port}"


@define
class HostConnections:
    """A connection bound per upstream host.

    Args:
        per_host: connections open at once to one host.
    """

    per_host: int
    _hosts: dict[str, DeferredSemaphore] = field(factory=dict)

    def of(self, host: str) -> DeferredSemaphore:
        """The semaphore of ``host`` (see :func:`host_of`).

        Hosts are fixed by the configured sources (placeholders never reach
        scheme, host or port), so this map stays as small as the configuration.
        """
        slots = self._hosts.get(host)
        if slots is None:
            slots = self._hosts[host] = DeferredSemaphore(self.per_host)
        return slots


__all__ = [
    "CallBudget",
    "ClientBusy",
    "HostConnections",
    "Overloaded",
    "Refused",
    "Reservation",
    "host_of",
]
