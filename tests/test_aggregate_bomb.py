"""A gzip bomb from an upstream, on real sockets: ``too_large``, memory bounded, deadline held.

The upstream (:class:`FakeUpstream`, in this process) answers ``/bomb`` with
``Content-Encoding: gzip`` and 200 MiB of zero bytes gzipped into about
200 KB.  The service runs in its own process (``tests/aggregate_service.py``),
so that its peak resident memory (``VmHWM``) is its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import pytest_twisted
from treq.client import HTTPClient
from twisted.internet import reactor
from twisted.internet.defer import ensureDeferred, gatherResults
from twisted.internet.threads import deferToThread
from twisted.web.client import Agent, HTTPConnectionPool

from .aggregate_upstream import CountingSite, FakeUpstream, gzip_bomb

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
CALLS = 16
#: Bound on the service's peak memory growth: 16 bodies capped at 1 MiB, plus slack.
GROWTH_MIB = 96


def peak_mib(pid: int) -> float:
    """The peak resident memory of process ``pid`` (``VmHWM``), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.fixture
def upstream() -> Iterator[str]:
    """The fake upstream on 127.0.0.1; its base URL."""
    gzip_bomb()
    port = reactor.listenTCP(0, CountingSite(FakeUpstream(reactor)), interface="127.0.0.1")
    yield f"http://127.0.0.1:{port.getHost().port}"
    port.stopListening()


async def get(client: HTTPClient, url: str) -> tuple[float, int, Any]:
    """GET ``url``: (seconds, status, decoded body)."""
    started = reactor.seconds()
    response = await client.get(url).addTimeout(30, reactor)
    body = await response.content().addTimeout(30, reactor)
    return reactor.seconds() - started, response.code, orjson.loads(body)


@pytest_twisted.ensureDeferred
async def test_gzip_bomb_is_too_large_with_bounded_memory(upstream: str) -> None:
    """16 concurrent requests hitting the bomb: each ``too_large`` beside the other source's
    answer, within the deadline, and the service's peak memory grows by less than 96 MiB."""
    table = {"sources": {"bomb": upstream + "/bomb", "ok": upstream + "/json?v=1"}}
    service = subprocess.Popen(
        [sys.executable, "-m", "tests.aggregate_service", json.dumps(table)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert service.stdout is not None
        info = json.loads(await _readline(service))
        client = HTTPClient(Agent(reactor, pool=HTTPConnectionPool(reactor, persistent=False)))
        await get(client, info["url"] + "?source=ok")  # warm: imports, first connections
        before = peak_mib(info["pid"])
        answers = await gatherResults(
            [ensureDeferred(get(client, info["url"])) for _ in range(CALLS)]
        )
        growth = peak_mib(info["pid"]) - before
    finally:
        service.kill()
        service.wait()
    for wall, code, body in answers:
        assert code == 200
        assert body["errors"]["bomb"]["error"] == "too_large"
        assert body["results"]["ok"]["body"] == {"path": "/json", "v": "1"}
        assert body["elapsed_ms"] < 5000
        assert wall < 6.0
    print(f"service peak memory grew by {growth:.1f} MiB")
    assert growth < GROWTH_MIB, f"peak memory grew by {growth:.0f} MiB"


async def _readline(process: subprocess.Popen[str]) -> str:
    """The first line the process prints, read in a thread (the reactor keeps serving)."""
    assert process.stdout is not None
    line: str = await deferToThread(process.stdout.readline)
    assert line, "the service did not start"
    return line
