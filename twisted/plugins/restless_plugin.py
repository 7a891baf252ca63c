"""The ``twistd restless`` plugin: points at ``chinook_svc.tap_restless``, imported only when used.

Like ``chinook_plugin.py``, it stays tiny and does not import ``chinook_svc``.
"""

from twisted.application.service import ServiceMaker

restless = ServiceMaker(
    "restless",
    "chinook_svc.tap_restless",
    "Serve any SQL database, by reflecting its schema, as a flask-restless 0.17 JSON REST API.",
    "restless",
)
