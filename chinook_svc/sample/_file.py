"""The default database: the sample materialised once into a SQLite file.

:func:`ensure_sample_database` builds the file on first use and reuses it
afterwards.  The file is built under a temporary name in the target directory
and only then published under its real name, so no process ever opens a
half-built file.  A file holding an older version of the sample (see the
marker in ``chinook_svc_meta``) is rebuilt the same way and swapped in with
:func:`os.replace`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import platformdirs
from sqlalchemy import create_engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from ._load import SampleError, SampleState, load_sample, sample_state

#: Environment variable naming the directory of the default sample file.
DATA_DIR_ENV = "CHINOOK_DATA_DIR"
#: File name of the default sample inside that directory.
SAMPLE_FILE = "chinook.db"


def default_sample_path() -> Path:
    """Where the default SQLite sample lives (or will be created).

    ``$CHINOOK_DATA_DIR/chinook.db`` when the variable is set, else
    ``chinook.db`` in ``platformdirs.user_data_dir("chinook_svc")``.
    """
    directory = os.environ.get(DATA_DIR_ENV) or platformdirs.user_data_dir(
        "chinook_svc", appauthor=False
    )
    return Path(directory) / SAMPLE_FILE


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of a SQLite file."""
    return URL.create("sqlite", database=str(path)).render_as_string()


def _file_state(path: Path) -> SampleState:
    if not path.exists():
        return SampleState.EMPTY
    engine = create_engine(sqlite_url(path), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return sample_state(conn)
    except DBAPIError as exc:
        raise SampleError(f"{path} is not a readable SQLite database: {exc.orig}") from None
    finally:
        engine.dispose()


def _build(path: Path) -> Path:
    """Load the sample into a new temporary file next to ``path``; return its name."""
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        engine = create_engine(sqlite_url(temporary), poolclass=NullPool)
        try:
            load_sample(engine)
        finally:
            engine.dispose()
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def _link(temporary: Path, path: Path) -> bool:
    """Publish with a hard link, which never overwrites; False if links are unsupported."""
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass  # another process published first: keep its file
    except OSError:
        return False
    return True


def _publish(temporary: Path, path: Path, *, overwrite: bool) -> None:
    """Give the built file its real name, atomically.

    A first build is published with a hard link, so that if another process
    published its own copy meanwhile, that copy stays: a process already
    serving it never has the file swapped under it.  Rebuilds, and file
    systems without hard links, use :func:`os.replace`.
    """
    try:
        if overwrite or not _link(temporary, path):
            os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def ensure_sample_database(path: Path | None = None) -> str:
    """Materialise the sample into a SQLite file once; return its SQLAlchemy URL.

    Args:
        path: the file; :func:`default_sample_path` when ``None``.

    Raises:
        SampleError: ``path`` exists but holds something else than the sample.
    """
    target = default_sample_path() if path is None else Path(path)
    state = _file_state(target)
    if state is SampleState.FOREIGN:
        raise SampleError(
            f"{target} holds Chinook tables that are not the bundled sample; "
            "move it away or choose another path"
        )
    if state is not SampleState.CURRENT:
        target.parent.mkdir(parents=True, exist_ok=True)
        _publish(_build(target), target, overwrite=state is SampleState.STALE)
    return sqlite_url(target)
