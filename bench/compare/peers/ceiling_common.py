"""What the two ceiling servers share: the fixed 2 KB JSON body, and serving a resource."""

import argparse
import json


def fixed_body(size: int = 2048) -> bytes:
    """A JSON list envelope of album-like objects, padded to exactly ``size`` bytes."""
    objects = []
    body = b""
    album_id = 1
    while True:
        objects.append(
            {
                "album_id": album_id,
                "artist": {"artist_id": album_id, "name": f"Artist {album_id}"},
                "artist_id": album_id,
                "title": f"Album title number {album_id}",
            }
        )
        envelope = {"num_results": 347, "objects": objects, "page": 1, "pad": "", "total_pages": 35}
        candidate = json.dumps(envelope, sort_keys=True).encode()
        if len(candidate) > size:
            break
        body = candidate
        album_id += 1
    envelope = json.loads(body)
    envelope["pad"] = "x" * (size - len(body))
    return json.dumps(envelope, sort_keys=True).encode()


BODY = fixed_body()


def serve(resource, description):
    """Serve ``resource`` on 127.0.0.1:``--port`` in this process until stopped."""
    from twisted.internet import reactor
    from twisted.web.server import Site

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    reactor.listenTCP(args.port, Site(resource), interface="127.0.0.1")
    reactor.run()
