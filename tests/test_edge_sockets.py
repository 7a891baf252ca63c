"""The HTTP edge for real: hostile clients against ``twistd chinook`` on a loopback port.

Two servers run for the whole module, each a ``twistd`` subprocess with a
private ``TMPDIR`` and short request deadlines (2 s for the head, 3 s for a
body): one with writes on (behind a token), one read-only as by default.
While a client pushes a huge body, a monitor thread samples the server's
resident memory and the size of every file it holds open in its ``TMPDIR``
(deleted temporary files included, through ``/proc/<pid>/fd``).

Each hostile client is bounded in time; the checks are on what the server
kept, not on how fast anything went.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .edge_support import parse_responses, request_bytes
from .service_support import make_tiny_chinook
from .test_twistd import Twistd, clean_env, free_port

pytestmark = pytest.mark.slow

TOKEN = "socket-token-0123456789abcdef"
HEAD_TIMEOUT = 2.0
BODY_TIMEOUT = 3.0
MIB = 1 << 20
#: What the server may keep while refusing a huge body: "a few MiB".
KEPT_BOUND = 8 * MIB


class Server:
    """A running ``twistd chinook`` with a private temporary directory."""

    def __init__(self, tmp: Path, *options: str) -> None:
        self.tmp = tmp / "tmp"
        self.tmp.mkdir()
        self.port = free_port()
        db = make_tiny_chinook(tmp / "tiny.db")
        args = ["chinook", "--listen", f"tcp:{self.port}:interface=127.0.0.1", "--db", db]
        env = clean_env(
            TMPDIR=str(self.tmp),
            CHINOOK_API_TOKEN=TOKEN,
            CHINOOK_HEAD_TIMEOUT=str(HEAD_TIMEOUT),
            CHINOOK_BODY_TIMEOUT=str(BODY_TIMEOUT),
        )
        self.twistd = Twistd([*args, *options], self.port, tmp, env)
        self.twistd.wait_until_up()

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.twistd.process.pid

    def rss(self) -> int:
        """Resident memory, in bytes."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        line = next(x for x in status.splitlines() if x.startswith("VmRSS:"))
        return int(line.split()[1]) * 1024

    def temp_bytes(self) -> int:
        """Bytes in the files the server holds open in its TMPDIR (deleted ones too)."""
        total = 0
        fds = Path(f"/proc/{self.pid}/fd")
        for fd in fds.iterdir():
            try:
                if os.readlink(fd).startswith(str(self.tmp)):
                    total += os.stat(fd).st_size
            except OSError:
                continue  # closed meanwhile
        return total

    def connect(self) -> socket.socket:
        """A new connection to the server."""
        return socket.create_connection(("127.0.0.1", self.port), timeout=30)

    def stop(self) -> None:
        """Stop the server."""
        try:
            self.twistd.terminate()
        finally:
            self.twistd.kill()


@pytest.fixture(scope="module")
def writable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``twistd chinook --allow-writes`` with the token in CHINOOK_API_TOKEN."""
    server = Server(tmp_path_factory.mktemp("writable"), "--allow-writes")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def read_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``twistd chinook`` as it starts by default."""
    server = Server(tmp_path_factory.mktemp("read_only"))
    yield server
    server.stop()


class Peak:
    """Samples a server's memory and temporary files in a thread until stopped."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.rss_before = server.rss()
        self.rss = self.rss_before
        self.temp = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.rss = max(self.rss, self.server.rss())
            self.temp = max(self.temp, self.server.temp_bytes())
            self._stop.wait(0.01)

    def stop(self) -> None:
        """Take the last sample and stop."""
        self._stop.set()
        self._thread.join()

    @property
    def kept(self) -> int:
        """The most the server held because of the upload: memory growth plus temp files."""
        return self.rss - self.rss_before + self.temp


def push(server: Server, head: bytes, body_bytes: int, chunked: bool) -> tuple[bytes, int]:
    """Send ``head`` then up to ``body_bytes`` of body while reading the answer.

    Returns what the server answered (until it closed, or 20 s) and how many
    body bytes the client managed to send.
    """
    sock = server.connect()
    sock.settimeout(0.5)
    sent = [0]
    done = threading.Event()

    def send() -> None:
        block = b"\0" * MIB
        if chunked:
            block = b"%x\r\n%s\r\n" % (len(block), block)
        try:
            sock.sendall(head)
            while sent[0] < body_bytes and not done.is_set():
                sock.sendall(block)
                sent[0] += MIB
        except OSError:
            pass  # the server closed: what this test wants

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    received = b""
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            except ConnectionResetError:
                break
            if not data:
                break
            received += data
    finally:
        done.set()
        sock.close()
        sender.join(timeout=30)
    return received, sent[0]


def upload(server: Server, head: bytes, body_bytes: int, chunked: bool = False) -> list[int]:
    """Push a body of ``body_bytes`` after ``head``; check the server kept a few MiB at most.

    Returns the statuses the server answered.
    """
    peak = Peak(server)
    answer, sent = push(server, head, body_bytes, chunked)
    peak.stop()
    assert peak.kept < KEPT_BOUND, (peak.rss - peak.rss_before, peak.temp, sent)
    return [r.status for r in parse_responses(answer)]


def post_head(content_length: int | None = None, token: str | None = None) -> bytes:
    """The head of a JSON POST to /api/genres: chunked unless ``content_length``."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if content_length is None:
        headers["Transfer-Encoding"] = "chunked"
    else:
        headers["Content-Length"] = str(content_length)
    return request_bytes("POST", "/api/genres", headers)


def test_huge_post_without_token_is_refused_unread(writable: Server) -> None:
    """A 1 GiB POST without token: a 401 at once, nothing stored (issue 10, item 2)."""
    assert upload(writable, post_head(1 << 30), 1 << 30) == [401]


def test_huge_chunked_get_healthz_is_not_stored(writable: Server) -> None:
    """A 1 GiB chunked GET /healthz: answered without its body, nothing stored."""
    head = request_bytes("GET", "/healthz", {"Transfer-Encoding": "chunked"})
    assert upload(writable, head, 1 << 30, chunked=True) == [200]


def test_big_post_to_read_only_server_is_not_stored(read_only: Server) -> None:
    """200 MiB POSTed to a read-only server: a 405 at once, nothing stored."""
    assert upload(read_only, post_head(200 * MIB), 200 * MIB) == [405]


def test_chunked_upload_with_token_is_cut_at_the_limit(writable: Server) -> None:
    """A chunked upload with the token is a 413 once past 1 MiB, nothing more stored."""
    assert upload(writable, post_head(token=TOKEN), 1 << 30, chunked=True) == [413]


def dribble(
    server: Server, prefix: bytes, trickle: bytes, count: int, seconds: float
) -> list[tuple[float, bytes]]:
    """Open ``count`` connections; send ``prefix`` at once, then ``trickle`` a byte every 0.2 s.

    Returns, per connection, when the server closed it (seconds from the
    start; ``inf`` if it was still open after ``seconds``) and what it answered.
    """
    socks = [server.connect() for _ in range(count)]
    for s in socks:
        s.sendall(prefix)
        s.setblocking(False)
    sent = 0
    closed: dict[int, float] = {}
    answers = [b""] * count
    start = time.monotonic()
    next_byte = start
    try:
        while len(closed) < count and time.monotonic() - start < seconds:
            now = time.monotonic()
            if now >= next_byte and sent < len(trickle):
                next_byte = now + 0.2
                for i, s in enumerate(socks):
                    if i not in closed:
                        try:
                            s.send(trickle[sent : sent + 1])
                        except OSError:
                            closed[i] = now - start
                sent += 1
            open_socks = [s for i, s in enumerate(socks) if i not in closed]
            readable, _, _ = select.select(open_socks, [], [], 0.05)
            for s in readable:
                i = socks.index(s)
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                answers[i] += data
                if not data:
                    closed[i] = time.monotonic() - start
    finally:
        for s in socks:
            s.close()
    return [(closed.get(i, float("inf")), answers[i]) for i in range(count)]


def test_slowloris_heads_are_cut_at_the_head_deadline(read_only: Server) -> None:
    """100 heads sent a byte at a time get a 408 at the head deadline; 50 silent ones close."""
    results = dribble(
        read_only, b"G", b"ET /healthz HTTP/1.1\r\nX-Slow: " + b"z" * 1000, 100, HEAD_TIMEOUT + 8
    )
    closed_at = [at for at, _ in results]
    assert max(closed_at) < HEAD_TIMEOUT + 3, closed_at
    assert min(closed_at) >= HEAD_TIMEOUT - 0.5, closed_at
    for _, answer in results:
        assert [r.status for r in parse_responses(answer)] == [408]
    silent = dribble(read_only, b"", b"", 50, HEAD_TIMEOUT + 8)
    assert max(at for at, _ in silent) < HEAD_TIMEOUT + 3
    assert all(answer == b"" for _, answer in silent)  # nothing asked, nothing answered
    with read_only.connect() as s:  # the server is still fine
        s.sendall(request_bytes("GET", "/healthz"))
        assert s.recv(65536).startswith(b"HTTP/1.1 200 ")


def test_slow_bodies_are_cut_at_the_body_deadline(writable: Server) -> None:
    """50 bodies sent a byte at a time are answered 408 and closed at the body deadline."""
    results = dribble(writable, post_head(1000, TOKEN), b" " * 1000, 50, BODY_TIMEOUT + 8)
    closed_at = [at for at, _ in results]
    assert max(closed_at) < BODY_TIMEOUT + 3, closed_at
    assert min(closed_at) >= BODY_TIMEOUT - 0.5, closed_at
    for _, answer in results:
        assert [r.status for r in parse_responses(answer)] == [408]


def test_listen_backlog_holds_a_burst(read_only: Server) -> None:
    """With the server stopped, 300 connects all complete: the backlog is far above 50."""
    os.kill(read_only.pid, signal.SIGSTOP)
    socks = []
    try:
        for _ in range(300):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", read_only.port))
            socks.append(s)
        deadline = time.monotonic() + 3
        pending = list(socks)
        while pending and time.monotonic() < deadline:
            _, writable, _ = select.select([], pending, [], 0.1)
            pending = [s for s in pending if s not in writable]
        connected = [
            s
            for s in socks
            if s not in pending and not s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        ]
        assert len(connected) == 300
    finally:
        os.kill(read_only.pid, signal.SIGCONT)
        for s in socks:
            s.close()
