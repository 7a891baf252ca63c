"""The write side of one API: POST, PATCH/PUT, DELETE, bulk PATCH and DELETE.

Each request is one database transaction that includes its processors: any
failure (a bad value, an integrity error, a processor raising) rolls the
whole request back, so nothing is ever half-written.  Like reads, this runs in
a worker thread (on SQLite, one dedicated writer thread; see ``_threads``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from ._collection import Collection
from ._dberrors import write_error
from ._deserialize import Deserializer, check_fields
from ._errors import (
    NEED_JSON,
    UNABLE_TO_CONSTRUCT,
    UNABLE_TO_DECODE,
    ApiError,
    BodyError,
    DatabaseUnavailable,
    NotFound,
)
from ._mediatype import is_json
from ._messages import ApiRequest
from ._query import decode_json, decode_q, parse_search
from ._references import check_deletable
from ._render import NO_CONTENT, Result
from ._scope import scope_of, where_in_scope

_CHUNK = 500


def extract_error_messages(exception: BaseException) -> Any:
    """0.17's guess at a validation exception's messages (``errors``, else None)."""
    errors_attr = getattr(exception, "errors", None)
    if errors_attr is not None:
        return errors_attr
    return None


class Writes:
    """POST/PATCH/PUT/DELETE of one collection."""

    def __init__(self, collection: Collection) -> None:
        self.collection = collection
        self.info = collection.info
        self.options = collection.options

    # -- framing ------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[tuple[Any, Session]]:
        """A connection in a transaction and an ORM session on it; commit or roll back."""
        conn = self.collection.connect()
        try:
            with (
                conn.begin(),
                Session(bind=conn, autoflush=False, expire_on_commit=False) as session,
            ):
                try:
                    yield conn, session
                    session.flush()
                    self.collection.announcer.in_transaction(conn)
                except self.options.validation_exceptions as e:
                    messages = extract_error_messages(e)
                    raise ApiError(
                        400,
                        "Validation error",
                        validation_errors=messages
                        or "Could not determine specific validation errors",
                    ) from None
            self.collection.announcer.committed()
        except sa_exc.SQLAlchemyError as e:
            error = write_error(e)
            if error.status >= 500 and not isinstance(error, DatabaseUnavailable):
                raise  # unforeseen: the routes answer 500 and log it
            raise error from None
        finally:
            conn.close()

    def body(self, request: ApiRequest) -> dict[str, Any]:
        """The JSON object in a write request (415, 413 or 400 otherwise)."""
        content_type = request.headers.get("content-type", "")
        if not is_json(content_type):
            raise ApiError(415, NEED_JSON)
        if len(request.body) > self.options.max_body_bytes:
            raise ApiError(413, "Request body too large")
        if not request.body.strip():
            # 0.17: an empty body is no JSON document (never an empty object).
            raise ApiError(400, UNABLE_TO_DECODE, detail="the request body is empty")
        data = decode_json(request.body)
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise BodyError("Request body must be a JSON object")
        return data

    def _object(self, conn: Any, instance: Any) -> tuple[dict[str, Any], Any]:
        """The JSON object of a flushed instance, read back from the database."""
        c = self.collection
        names = c.instance_key.names
        raw = c.search.by_key(conn, names, tuple(getattr(instance, n) for n in names))
        if raw is None:
            raise NotFound()
        return c.objects.build(conn, c.shape, [raw])[0], raw

    def _instance(self, session: Session, instid: Any) -> Any:
        """The instance an instance URL names, if the model's scope shows it."""
        key = self.collection.key(instid)
        model = self.info.model
        names = self.collection.instance_key.names
        clause = [getattr(model, n) == v for n, v in zip(names, key, strict=True)]
        stmt = where_in_scope(select(model).where(*clause), scope_of(self.info))
        return session.scalars(stmt.limit(1)).first()

    def _instances(self, session: Session, conn: Any, search: Any) -> list[Any]:
        """The instances a search matches, in the model's scope."""
        compiled = self.collection.compiler.compile(search)
        rows = self.collection.search.rows(conn, compiled, 0, None, scope_of(self.info))
        model = self.info.model
        pk_names = self.info.pk_names
        found: list[Any] = []
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start : start + _CHUNK]
            if len(pk_names) == 1:
                col = getattr(model, pk_names[0])
                clause = col.in_([r[pk_names[0]] for r in chunk])
            else:
                clause = tuple_(*(getattr(model, k) for k in pk_names)).in_(
                    [tuple(r[k] for k in pk_names) for r in chunk]
                )
            found.extend(session.scalars(select(model).where(clause)))
        return found

    # -- POST /api/<c> ----------------------------------------------------------------

    def post(self, request: ApiRequest) -> Result:
        """Create a row (and nested related rows): 201 with the object and its Location."""
        data = self.body(request)
        for pre in self.options.pre("POST"):
            pre(data=data)
        deserialize = self.options.deserializer
        with self.transaction() as (conn, session):
            if deserialize is None:
                instance = Deserializer(session).new(self.info, data)
            else:
                instance = deserialize(data)
            session.add(instance)
            session.flush()
            result, raw = self._object(conn, instance)
            for post in self.options.post("POST"):
                post(result=result)
        instid = self.collection.instance_key.url_id(lambda name: result.get(name, raw[name]))
        location = f"{request.base_url}/{instid}"
        return Result(201, result, location=location)

    # -- PATCH/PUT /api/<c>/<id> ----------------------------------------------------------

    def patch(self, request: ApiRequest, instid: str) -> Result:
        """Update one row and its relations: 200 with the object as re-read."""
        data = self.body(request)
        target: Any = instid
        for pre in self.options.pre("PATCH_SINGLE"):
            changed = pre(instance_id=target, data=data)
            if changed is not None:
                target = changed
        check_fields(self.info, data)
        with self.transaction() as (conn, session):
            instance = self._instance(session, target)
            if instance is None:
                raise NotFound()
            Deserializer(session).update(self.info, instance, data)
            session.flush()
            result, _ = self._object(conn, instance)
            for post in self.options.post("PATCH_SINGLE"):
                post(result=result)
        return Result(200, result)

    # -- PATCH/PUT /api/<c> -------------------------------------------------------------------

    def patch_many(self, request: ApiRequest) -> Result:
        """Update every row a search matches: ``{"num_modified": n}``."""
        data = self.body(request)
        params = data.pop("q", {})
        if not isinstance(params, dict):
            raise ApiError(400, UNABLE_TO_CONSTRUCT, detail="q must be a JSON object")
        for pre in self.options.pre("PATCH_MANY"):
            pre(search_params=params, data=data)
        check_fields(self.info, data)
        search = parse_search(params, self.options.limits)
        with self.transaction() as (conn, session):
            instances = self._instances(session, conn, search)
            deserializer = Deserializer(session)
            for instance in instances:
                deserializer.update(self.info, instance, data)
            session.flush()
            result = {"num_modified": len(instances) if data else 0}
            for post in self.options.post("PATCH_MANY"):
                post(query=search, result=result, search_params=params)
        return Result(200, result)

    # -- DELETE -------------------------------------------------------------------------------

    def delete(self, request: ApiRequest, instid: str) -> Result:
        """Delete one row: 204, or 404 if there is none."""
        target: Any = instid
        for pre in self.options.pre("DELETE_SINGLE"):
            changed = pre(instance_id=target, relation_name=None, relation_instance_id=None)
            if changed is not None:
                target = changed
        with self.transaction() as (_, session):
            instance = self._instance(session, target)
            if instance is not None:
                check_deletable(session, self.info, [instance])
                session.delete(instance)
                session.flush()
            for post in self.options.post("DELETE_SINGLE"):
                post(was_deleted=instance is not None)
        if instance is None:
            raise NotFound()
        return NO_CONTENT

    def delete_relation(self, request: ApiRequest, instid: str, relname: str) -> Result:
        """``DELETE /api/<c>/<id>/<rel>``: refused, as in 0.17."""
        if relname not in self.info.relations:
            raise NotFound(f"No relation {relname!r}")
        raise ApiError(400, f'Cannot DELETE entire "{relname}" relation')

    def delete_member(self, request: ApiRequest, instid: str, relname: str, relid: str) -> Result:
        """Remove one object from a relation (the link, not the row): 204."""
        rel = self.info.relations.get(relname)
        if rel is None:
            raise NotFound(f"No relation {relname!r}")
        target: Any = instid
        for pre in self.options.pre("DELETE_SINGLE"):
            changed = pre(instance_id=target, relation_name=relname, relation_instance_id=relid)
            if changed is not None:
                target = changed
        related_info = rel.target
        related = self.collection.target_key(related_info)
        related_key = related.parse(relid)

        def named(member: Any) -> bool:
            return tuple(getattr(member, n) for n in related.names) == related_key

        with self.transaction() as (_, session):
            instance = self._instance(session, target)
            if instance is None:
                raise NotFound()
            if rel.uselist:
                collection = getattr(instance, relname)
                member = next((m for m in collection if named(m)), None)
                if member is None:
                    raise NotFound()
                collection.remove(member)
            else:
                current = getattr(instance, relname)
                if current is None or not named(current):
                    raise NotFound()
                setattr(instance, relname, None)
            session.flush()
            for post in self.options.post("DELETE_SINGLE"):
                post(was_deleted=True)
        return NO_CONTENT

    def delete_many(self, request: ApiRequest) -> Result:
        """Delete every row a search matches: ``{"num_deleted": n}``."""
        try:
            params = decode_q(request.arg("q"), self.options.limits)
        except ApiError as e:
            raise ApiError(400, "Unable to decode search query", **e.extra) from None
        for pre in self.options.pre("DELETE_MANY"):
            pre(search_params=params)
        search = parse_search(params, self.options.limits)
        with self.transaction() as (conn, session):
            instances = self._instances(session, conn, search)
            check_deletable(session, self.info, instances)
            for instance in instances:
                session.delete(instance)
            session.flush()
            result = {"num_deleted": len(instances)}
            for post in self.options.post("DELETE_MANY"):
                post(result=result, search_params=params)
        return Result(200, result)


__all__ = ["Writes"]
