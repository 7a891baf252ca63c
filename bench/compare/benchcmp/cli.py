"""``python bench/compare/run.py``: install the peers, check their answers, time them, report.

Progress goes to stderr, the report (markdown) to stdout, raw results to
``bench/results/compare-<time>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import report
from .check import Check, check_target, fetch_json
from .endpoints import ENDPOINTS
from .install import ensure_peer
from .servers import Server, ServerError, free_port, http_get
from .targets import (
    CHINOOK,
    CHINOOK_CACHE,
    KLEIN,
    PEER_APPS,
    PEERS_DIR,
    ROOT,
    TARGETS,
    Setup,
    Target,
    detect_chinook,
)
from .wrk import WrkError, WrkResult, parse_wrk, run_wrk

RESULTS_DIR = ROOT / "bench" / "results"
SQLTRACE = PEER_APPS / "sqltrace"
#: Packages worth naming when saying which versions ran.
KEY_PACKAGES = (
    "Flask-Restless", "Flask-Restless-NG", "Flask", "SQLAlchemy", "gunicorn",
    "datasette", "uvicorn", "fastapi", "orjson",
)  # fmt: skip


def say(message: str) -> None:
    """Progress, on stderr, timestamped."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="bench/compare/run.py",
        description="chinook_svc against flask-restless 0.17, flask-restless-ng, datasette, "
        "a hand-written FastAPI app and fixed-bytes ceilings, with wrk on 127.0.0.1.",
    )
    parser.add_argument("--duration", type=float, default=10, help="seconds per timed cell")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of wrk before each cell")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--runs", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--workers", type=int, default=2, help="worker processes where available")
    parser.add_argument("--timeout", type=float, default=2, help="wrk's request timeout, seconds")
    parser.add_argument(
        "--only", help=f"comma-separated targets (chinook_svc always runs): {', '.join(TARGETS)}"
    )
    parser.add_argument("--endpoints", default=",".join(ENDPOINTS), help="e.g. E1,E2")
    parser.add_argument("--db", type=Path, help="SQLite file (default: a private copy)")
    parser.add_argument(
        "--cache",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time chinook_svc with its response cache, when it has one",
    )
    parser.add_argument(
        "--cache-option", help="the argument enabling chinook_svc's cache, if it takes a value"
    )
    parser.add_argument(
        "--rss-minutes", type=float, default=0, help="also run E1 this long, watching RSS"
    )
    parser.add_argument("--reinstall", action="store_true", help="rebuild the peers' venvs")
    parser.add_argument("--install-only", action="store_true", help="install the peers, stop")
    args = parser.parse_args(argv)
    args.endpoint_keys = [k.strip().upper() for k in args.endpoints.split(",") if k.strip()]
    unknown = set(args.endpoint_keys) - set(ENDPOINTS)
    if unknown:
        parser.error(f"unknown endpoints {sorted(unknown)}; choose from {', '.join(ENDPOINTS)}")
    names = list(TARGETS)
    if args.only:
        wanted = {n.strip() for n in args.only.split(",") if n.strip()}
        if wanted - set(TARGETS):
            parser.error(f"unknown targets {sorted(wanted - set(TARGETS))}")
        names = [n for n in TARGETS if n in wanted or n == CHINOOK]
    args.target_names = names
    return args


def find_shared_db() -> Path | None:
    """``shared/chinook/chinook.db`` beside the project or beside its worktree folder."""
    for base in (ROOT.parent, ROOT.parent.parent):
        candidate = base / "shared" / "chinook" / "chinook.db"
        if candidate.is_file():
            return candidate
    return None


def prepare_db(explicit: Path | None) -> tuple[Path, str]:
    """The database file every server reads, and where it came from."""
    if explicit is not None:
        return explicit.resolve(), f"{explicit} (as given)"
    data = PEERS_DIR / "data"
    data.mkdir(parents=True, exist_ok=True)
    target = data / "chinook.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    source = find_shared_db()
    if source is not None:
        shutil.copyfile(source, target)
        origin = f"private copy of {source}"
    else:
        from chinook_svc.sample import ensure_sample_database

        ensure_sample_database(target)
        origin = "the bundled sample (chinook_svc.sample), materialised"
    # chinook_svc switches SQLite files to write-ahead logging when it opens them; do it
    # before anyone is timed, so that every server reads the file in the same mode.
    with sqlite3.connect(target) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    return target, origin


def server_for(
    target: Target, setup: Setup, log_dir: Path, tag: str, extra_env: dict[str, str] | None = None
) -> Server:
    """A (not yet started) server for ``target`` on a free port."""
    port = free_port()
    env = {
        **os.environ,
        "BENCH_DB": str(setup.db_path),
        "BENCH_ALBUM_TRACKS": "1" if setup.album_tracks else "0",
        **(extra_env or {}),
    }
    return Server(
        target.label,
        target.command(setup, port),
        cwd=target.cwd,
        env=env,
        log_path=log_dir / f"{target.name}-{tag}.log",
        port=port,
    )


def run_checks(
    targets: Sequence[Target], setup: Setup, keys: Sequence[str], log_dir: Path
) -> tuple[Setup, dict[str, dict[str, Check]], list[str]]:
    """Fetch every endpoint from every target once (chinook_svc first) and compare.

    Returns the setup (with ``album_tracks`` as chinook_svc answers), the
    checks per target and endpoint, and notes for the report.
    """
    notes: list[str] = []
    checks: dict[str, dict[str, Check]] = {}
    reference: dict[str, Check] | None = None
    for target in targets:
        sql_log = log_dir / f"{target.name}-sql.log"
        sql_log.unlink(missing_ok=True)
        env = {
            "BENCH_SQL_LOG": str(sql_log),
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(SQLTRACE), os.environ.get("PYTHONPATH")])
            ),
        }
        say(f"checking {target.label} ...")
        try:
            with server_for(target, setup, log_dir, "check", env) as server:
                if target.name == CHINOOK:
                    status, album = fetch_json(server, "/api/albums/1", target)
                    tracks = status == 200 and isinstance(album, dict) and "tracks" in album
                    setup = replace(setup, album_tracks=tracks)
                    notes.append(
                        "chinook_svc's album objects "
                        + ("inline their tracks: peers are told to inline them too"
                           if tracks else "do not inline tracks (exclude_inline): nor do the peers")
                    )  # fmt: skip
                logged = sql_log if target.style != "ceiling" else None
                checks[target.name] = check_target(target, server, setup, keys, reference, logged)
        except ServerError as e:
            say(str(e))
            checks[target.name] = {
                k: Check(target.name, k, "", problem=f"did not start: {e}".splitlines()[0])
                for k in keys
                if k in target.endpoints
            }
        if target.name == CHINOOK:
            reference = checks[target.name]
        for key, check in checks[target.name].items():
            if check.problem:
                say(f"  MISMATCH {target.label} {key}: {check.problem} (not timed)")
            elif check.payload:
                say(f"  {target.label} {key}: rows match; payload: {check.payload}")
    return setup, checks, notes


def time_rounds(
    targets: Sequence[Target],
    setup: Setup,
    checks: dict[str, dict[str, Check]],
    args: argparse.Namespace,
    log_dir: Path,
) -> list[report.Measurement]:
    """The interleaved rounds: each round starts every target in turn (rotating order)."""
    measurements = []
    for number in range(args.runs):
        shift = number % len(targets)
        order = [*targets[shift:], *targets[:shift]]
        say(f"round {number + 1}/{args.runs}: {', '.join(t.name for t in order)}")
        for target in order:
            cells = [
                (k, c.path)
                for k, c in checks.get(target.name, {}).items()
                if k in args.endpoint_keys and not c.problem
            ]
            if not cells:
                continue
            try:
                with server_for(target, setup, log_dir, f"round{number + 1}") as server:
                    for key, path in cells:
                        result = time_cell(server, target, path, args)
                        if result is not None:
                            measurements.append(
                                report.Measurement(number, target.name, key, result)
                            )
                            say(
                                f"  {target.name} {key}: {result.requests_per_second:,.0f} req/s, "
                                f"p99 {report.fmt_ms(result.p99_ms)} ms, "
                                f"errors {result.errors}, timeouts {result.timeouts}"
                            )
            except ServerError as e:
                say(f"  {target.name} did not start in round {number + 1}: {e}")
    return measurements


def time_cell(
    server: Server, target: Target, path: str, args: argparse.Namespace
) -> WrkResult | None:
    """Warm up, then one timed wrk run; ``None`` if wrk or the server failed."""
    url = server.base_url + path
    options: dict[str, Any] = {
        "connections": args.connections,
        "headers": target.headers,
        "timeout": args.timeout,
    }
    try:
        if args.warmup > 0:
            run_wrk(url, duration=args.warmup, **options)
        # Servers without keep-alive (gunicorn's sync workers) still hold the requests of
        # connections wrk closed; one plain request waits until they are worked off.
        http_get(url, dict(h.split(": ", 1) for h in target.headers), timeout=60)
        result = run_wrk(url, duration=args.duration, **options)
    except (WrkError, OSError, subprocess.TimeoutExpired) as e:
        say(f"  wrk failed on {target.name} {path}: {e}")
        return None
    if not server.alive():
        say(f"  {target.name} died during the run:\n{server.log_tail()}")
    return result


def rss_run(
    target: Target, setup: Setup, path: str, args: argparse.Namespace, log_dir: Path
) -> dict[str, Any]:
    """E1 for ``args.rss_minutes`` minutes against chinook_svc, sampling its RSS every 5 s."""
    seconds = args.rss_minutes * 60
    warm = min(30.0, max(5.0, seconds / 10))
    say(f"memory run: {warm:.0f} s warm-up, then E1 for {seconds:.0f} s, RSS every 5 s")
    with server_for(target, setup, log_dir, "rss") as server:
        url = server.base_url + path
        at_start = server.rss_bytes()
        run_wrk(url, duration=warm, connections=args.connections, timeout=args.timeout)
        after_warmup = server.rss_bytes()
        command = [
            "wrk", "-t1", f"-c{args.connections}", f"-d{round(seconds)}s",
            f"--timeout={args.timeout:g}s", "--latency", url,
        ]  # fmt: skip
        samples = []
        started = time.monotonic()
        with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as wrk:
            while wrk.poll() is None:
                samples.append((round(time.monotonic() - started, 1), server.rss_bytes()))
                time.sleep(5)
            output = wrk.communicate()[0]
        at_end = server.rss_bytes()
    result = parse_wrk(output)
    return {
        "minutes": args.rss_minutes,
        "rss_start": at_start,
        "rss_after_warmup": after_warmup,
        "rss_end": at_end,
        "rss_max": max([s for _, s in samples] + [at_end]),
        "change": (at_end - after_warmup) / after_warmup if after_warmup else None,
        "samples": samples,
        "wrk": result.to_json(),
    }


def payload_lines(checks: dict[str, dict[str, Check]], keys: Sequence[str]) -> list[str]:
    """One line per peer: the same data as chinook_svc, or how it differs, per endpoint."""
    lines = []
    for name, per in checks.items():
        if name == CHINOOK or TARGETS[name].style == "ceiling":
            continue
        compared = [c for k, c in per.items() if k in keys and not c.problem]
        if not compared:
            continue
        notes: dict[str, list[str]] = {}
        for c in compared:
            notes.setdefault(c.payload or "the same data", []).append(c.endpoint)
        described = "; ".join(f"{', '.join(ks)}: {note}" for note, ks in notes.items())
        lines.append(f"- {TARGETS[name].label}: {described}")
    return lines


def versions_line(versions: dict[str, dict[str, str]]) -> str:
    """The key package versions of each peer, one line."""
    parts = []
    for peer, packages in versions.items():
        named = [f"{n} {packages[n]}" for n in KEY_PACKAGES if n in packages]
        parts.append(f"{peer}: {', '.join(named)}")
    return "; ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison; 0 when it ran (whatever the numbers), 1 on set-up failure."""
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 1
    python = Path(sys.executable)
    targets = [TARGETS[n] for n in args.target_names]
    versions = {}
    for target in targets:
        if target.venv is not None:
            versions[target.venv] = ensure_peer(target.venv, reinstall=args.reinstall, say=say)
    if args.install_only:
        say("peers installed")
        return 0
    db_path, origin = prepare_db(args.db)
    chinook = detect_chinook(python, args.cache_option)
    notes = list(chinook.notes)
    if not (args.cache and chinook.cache_args):
        targets = [t for t in targets if t.name != CHINOOK_CACHE]
    setup = Setup(python=python, db_path=db_path, workers=args.workers, chinook=chinook)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_dir = PEERS_DIR / "logs" / stamp
    cells = sum(len(set(args.endpoint_keys) & t.endpoints) for t in targets)
    estimate = cells * args.runs * (args.duration + args.warmup + 0.5) / 60
    say(f"{len(targets)} targets, {cells} cells x {args.runs} rounds: about {estimate:.0f} min")
    load_before = os.getloadavg()

    setup, checks, check_notes = run_checks(targets, setup, args.endpoint_keys, log_dir)
    notes += check_notes
    measurements = time_rounds(targets, setup, checks, args, log_dir)
    rss = None
    if args.rss_minutes > 0:
        path = checks.get(CHINOOK, {}).get("E1")
        rss = rss_run(TARGETS[CHINOOK], setup, path.path if path else "/api/albums", args, log_dir)

    summaries = report.summarize(measurements)
    excluded = {
        (name, key): c.problem
        for name, per in checks.items()
        for key, c in per.items()
        if c.problem and key in args.endpoint_keys
    }
    text = render(args, setup, targets, checks, measurements, summaries, excluded, notes, rss)
    text += f"\n\nDatabase: {origin}."
    if versions:
        text += f" Versions: {versions_line(versions)}."
    text += f" Load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}."
    print(text)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"compare-{stamp}.json"
    raw = {
        "arguments": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "database": origin,
        "chinook_launch": {"plugin": chinook.plugin, "workers_option": chinook.workers_option},
        "album_tracks": setup.album_tracks,
        "versions": versions,
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "checks": {n: {k: c.to_json() for k, c in per.items()} for n, per in checks.items()},
        "measurements": [
            {"round": m.round, "target": m.target, "endpoint": m.endpoint, **m.result.to_json()}
            for m in measurements
        ],
        "rss": rss,
        "notes": notes,
        "report": text,
    }
    out.write_text(json.dumps(raw, indent=1))
    say(f"raw results: {out}; server logs: {log_dir}")
    return 0


def render(
    args: argparse.Namespace,
    setup: Setup,
    targets: Sequence[Target],
    checks: dict[str, dict[str, Check]],
    measurements: Sequence[report.Measurement],
    summaries: dict[tuple[str, str], report.Summary],
    excluded: dict[tuple[str, str], str],
    notes: Sequence[str],
    rss: dict[str, Any] | None,
) -> str:
    """The markdown report."""
    keys = args.endpoint_keys
    listed = [(t.name, t.label, t.processes(setup)) for t in targets]
    parts = [
        f"## chinook_svc vs peers: wrk -t1 -c{args.connections} -d{args.duration:g}s on "
        f"127.0.0.1, medians of {args.runs} interleaved rounds",
        "",
        report.results_table(
            summaries,
            measurements,
            [(k, ENDPOINTS[k].title) for k in keys],
            listed,
            CHINOOK,
            excluded,
        ),
        "",
        "Ratios are medians of per-round ratios (each round times every target once, "
        "close together). errors = socket errors + non-2xx answers.",
        "",
    ]
    peers = [(t.name, t.label) for t in targets if t.peer]
    if peers:
        cache = CHINOOK_CACHE if any(t.name == CHINOOK_CACHE for t in targets) else None
        parts += [
            "### Goals (issue 6): ≥2x the best peer's req/s with a lower p99, no errors",
            "",
            report.goals_table(summaries, measurements, keys, peers, CHINOOK, cache),
        ]
    shares = []
    for key in ("E1", "E2"):
        share = report.paired_ratio(measurements, CHINOOK, KLEIN, key)
        if share is not None:
            verdict = "met" if share >= report.TARGET_CEILING_SHARE else "not met"
            shares.append(f"{key} {report.fmt_percent(share)} ({verdict})")
    if shares:
        procs = setup.chinook.processes(setup) if setup.chinook else 1
        parts += [
            "",
            f"chinook_svc ({procs} process{'es' if procs > 1 else ''}) as a share of the "
            f"1-process Klein ceiling (goal ≥40%): {', '.join(shares)}",
        ]
    counts = {
        name: {k: c.statements for k, c in per.items() if k in keys} for name, per in checks.items()
    }
    parts += [
        "",
        "### SQL statements per request (sqlite3 trace, measured during the check)",
        "",
        report.statements_table(counts, keys, {t.name: t.label for t in targets}),
    ]
    parts += ["", "### Payloads compared with chinook_svc's (where the rows match)", ""]
    parts += payload_lines(checks, keys)
    if excluded:
        parts += ["", "### Not timed (failed the correctness gate)", ""]
        parts += [f"- {TARGETS[n].label} {k}: {why}" for (n, k), why in excluded.items()]
    if rss is not None:
        mib = 1024 * 1024
        change = rss["change"]
        verdict = "flat" if change is not None and abs(change) <= 0.10 else "NOT flat"
        parts += [
            "",
            f"### Memory: chinook_svc RSS over {rss['minutes']:g} min of E1 at "
            f"{args.connections} connections",
            "",
            report.markdown_table(
                ["start", "after warm-up", "end", "max", "change after warm-up", "req/s"],
                [
                    [
                        f"{rss['rss_start'] / mib:.1f} MiB",
                        f"{rss['rss_after_warmup'] / mib:.1f} MiB",
                        f"{rss['rss_end'] / mib:.1f} MiB",
                        f"{rss['rss_max'] / mib:.1f} MiB",
                        f"{100 * change:+.1f}% ({verdict}, goal within 10%)" if change else "",
                        report.fmt_rps(rss["wrk"]["requests_per_second"]),
                    ]
                ],
            ),
        ]
    if notes:
        parts += ["", "Notes:", *[f"- {n}" for n in notes]]
    return "\n".join(parts)
