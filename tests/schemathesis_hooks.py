"""Schemathesis hooks for ``test_schemathesis.py`` (loaded through ``SCHEMATHESIS_HOOKS``).

Twisted refuses a request line longer than 16 KiB before any of our code
sees it, by closing the connection or with a bare, non-JSON 400; that is the
HTTP edge's business, not the document's.  The fuzzer builds ``q`` values
far past that from the recursive ``Filter`` schema, so cases whose query
string would not fit in 8 KiB are left out.  ``q`` values past the 8 KiB
limit of the query language (a JSON 400) are still sent: the limit is 8 KiB
of JSON, the URL carries it percent-encoded.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import schemathesis

#: Longest query string sent.
MAX_QUERY = 8192


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@schemathesis.hook
def filter_case(context: Any, case: Any) -> bool:
    """Keep cases whose URL Twisted will read."""
    query = case.query or {}
    pairs = [
        (k, _text(v))
        for k, values in query.items()
        for v in (values if isinstance(values, list) else [values])
    ]
    return len(case.formatted_path) + len(urlencode(pairs)) < MAX_QUERY
