"""The built-in demonstration: sources served by the service's own REST API.

With no ``--aggregate-source`` configured, the wiring points the aggregate
endpoint at the service itself, so that ``GET /aggregate?id=1`` fans out to
three calls over loopback and needs no internet:

* ``artist``: ``/api/artists/{id}``;
* ``albums``: ``/api/artists/{id}/albums``;
* ``tracks``: ``/api/tracks`` filtered with ``q`` to the tracks of the
  artist's albums (up to 100 of them).

``id`` is an ``int`` placeholder, so it can only ever be digits inside the
``q`` filter's JSON.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv6Address

from hyperlink import URL

from .sources import Source

#: ``q`` filter selecting the tracks of one artist's albums.
TRACKS_OF_ARTIST = (
    '{"filters":[{"name":"album","op":"has",'
    '"val":{"name":"artist_id","op":"eq","val":{id:int}}}],'
    '"order_by":[{"field":"track_id","direction":"asc"}]}'
)


#: Interfaces meaning "all of them" (none given, or the unspecified addresses
#: 0.0.0.0 and ::), which the demo reaches through loopback.
EVERY_INTERFACE = frozenset({"", str(IPv4Address(0)), str(IPv6Address(0))})


def demo_sources(base_url: str, api_prefix: str = "/api") -> tuple[Source, ...]:
    """The demo sources calling the service at ``base_url``.

    Args:
        base_url: where the service answers, e.g. ``http://127.0.0.1:8080``
            (see :func:`local_base_url`).
        api_prefix: the URL prefix of the REST API.
    """
    root = base_url.rstrip("/") + "/" + api_prefix.strip("/")
    return (
        Source.of("artist", root + "/artists/{id:int}"),
        Source.of("albums", root + "/artists/{id:int}/albums"),
        Source.of(
            "tracks",
            root + "/tracks?results_per_page=100&q=" + TRACKS_OF_ARTIST,
        ),
    )


def local_base_url(listen: str) -> str:
    """The loopback URL of a service listening on a ``tcp:`` or ``tcp6:`` endpoint string.

    ``tcp:8080`` and ``tcp:port=8080:interface=0.0.0.0`` give
    ``http://127.0.0.1:8080``; an interface of its own is kept, and ``tcp6``
    on every interface gives ``http://[::1]:PORT``.

    Raises:
        ValueError: the endpoint is not TCP or has no port number.
    """
    kind, _, rest = listen.partition(":")
    if kind not in ("tcp", "tcp6"):
        raise ValueError(f"the demo sources need a tcp: or tcp6: listen endpoint, not {listen!r}")
    positional: list[str] = []
    named: dict[str, str] = {}
    for escaped in re.split(r"(?<!\\):", rest) if rest else []:
        part = escaped.replace("\\:", ":")
        key, sep, value = part.partition("=")
        if sep:
            named[key] = value
        else:
            positional.append(part)
    port = named.get("port") or (positional[0] if positional else "")
    if not port.isdigit() or int(port) == 0:
        raise ValueError(f"the demo sources need a fixed port in {listen!r}")
    interface = named.get("interface") or (positional[2] if len(positional) > 2 else "")
    if interface in EVERY_INTERFACE:
        interface = "::1" if kind == "tcp6" else "127.0.0.1"
    return URL(scheme="http", host=interface, port=int(port)).to_text()
