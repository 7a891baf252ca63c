"""The version of chinook_svc, in a module of its own so that any module may import it.

``chinook_svc/__init__.py`` re-exports it; the web app and the command line
import it from here, so that neither imports the package's ``__init__`` (which
imports the web app on first use: a cycle).  The build reads it from here too.
"""

__version__ = "0.1.0"
