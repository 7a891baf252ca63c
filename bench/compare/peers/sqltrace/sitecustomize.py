"""Log every SQLite statement of this process, for counting statements per request.

Put this folder on ``PYTHONPATH`` and set ``BENCH_SQL_LOG`` to a file: every
``sqlite3.connect`` then installs a trace callback that appends one line per
statement (``pid<TAB>database file name<TAB>SQL``) to that file.  Works for every
peer (SQLAlchemy 1.3/2.0, datasette, chinook_svc) because they all connect
through the standard library's ``sqlite3``.  Without ``BENCH_SQL_LOG`` it does
nothing.
"""

import os

_LOG = os.environ.get("BENCH_SQL_LOG")

if _LOG:
    import sqlite3
    import sqlite3.dbapi2

    _fd = os.open(_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    _original_connect = sqlite3.dbapi2.connect

    class _TracedConnection(sqlite3.Connection):
        """A connection whose own trace callbacks run after ours (chinook_svc
        times statements with one), instead of replacing it."""

        _bench_trace = None

        def set_trace_callback(self, callback):
            ours = self._bench_trace
            if callback is None:
                return super().set_trace_callback(ours)

            def both(statement):
                ours(statement)
                callback(statement)

            return super().set_trace_callback(both)

    def _traced_connect(database, *args, **kwargs):
        kwargs.setdefault("factory", _TracedConnection)
        connection = _original_connect(database, *args, **kwargs)
        name = str(database)
        if name.startswith("file:"):  # a URI: file:/path/chinook.db?mode=ro
            name = name[len("file:") :].split("?", 1)[0]
        name = os.path.basename(name)

        def trace(statement):
            line = f"{os.getpid()}\t{name}\t{' '.join(statement.split())}\n"
            os.write(_fd, line.encode("utf-8", "replace"))

        if isinstance(connection, _TracedConnection):
            connection._bench_trace = trace
        sqlite3.Connection.set_trace_callback(connection, trace)
        return connection

    sqlite3.connect = _traced_connect
    sqlite3.dbapi2.connect = _traced_connect
