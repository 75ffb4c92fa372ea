"""A Confluent Schema Registry REST client: schemas by id (cached per process), latest of a subject, register.

Only the REST subset the console needs: `GET /schemas/ids/{id}`, `GET /subjects/{s}/versions/{v}`
(latest or a number; also for schema references) and `POST /subjects/{s}/versions`. Every
call has the cluster timeout (or what is left of the request's), HTTP basic auth from the
cluster's `schema_registry_username/password`, no redirects (they would carry the
credentials elsewhere), and errors a person can act on that name the cluster and the
registry address but never the credentials. Schemas by id never change in a registry, so
they are kept for the life of the process; a registry that does not answer is not asked
again for DOWN_SECONDS, so a search over a million wire-format events does not wait a
million timeouts.
"""

from __future__ import annotations

import base64
import functools
import json
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, NoReturn

import fastavro

from backbone_admin.clusters import ClusterConfig
from backbone_admin.kafka.client import require_cluster, timeout
from backbone_admin.kafka.errors import ClusterUnavailable, InvalidRequest
from streams.events.avro_reader import Reader, compile_reader

DOWN_SECONDS = 10.0
MISSING_SECONDS = 60.0
MAX_SCHEMAS = 2000
MAX_RESPONSE_BYTES = 4 * 1024 * 1024
MAX_REFERENCE_DEPTH = 10
CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
SCHEMA_TYPES = ("AVRO", "JSON", "PROTOBUF")


@dataclass(frozen=True)
class Schema:
    schema_id: int
    schema_type: str  # AVRO | JSON | PROTOBUF
    text: str
    parsed: Any  # fastavro's parsed schema for AVRO; None for the others
    named: dict[str, Any] = field(default_factory=dict)  # its named Avro types (references included)
    # Arrays or maps of items that take no bytes (null, empty records): a 10-byte value could
    # claim 2**60 of them, and decoding would never end. Such values are not decoded.
    unbounded: bool = False

    @functools.cached_property
    def reader(self) -> Reader:
        """The bounded reader of this Avro schema's values (compiled on first use, kept with the schema)."""
        return compile_reader(self.parsed, self.named)


@dataclass(frozen=True)
class SubjectVersion:
    subject: str
    version: int
    schema: Schema


class SchemaNotFound(InvalidRequest):
    """The registry has no such schema id, subject or version."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx then surfaces as an HTTPError


def _split_url(url: str) -> tuple[str, str | None, str | None]:
    """The URL without user:password@ (used as credentials when the cluster names none)."""
    parts = urllib.parse.urlsplit(url.strip())
    user = urllib.parse.unquote(parts.username) if parts.username else None
    password = urllib.parse.unquote(parts.password) if parts.password else None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    clean = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    return clean, user, password


class Registry:
    """The schema registry of one cluster; thread-safe, one per cluster and process (`registry_for`)."""

    def __init__(self, cluster: ClusterConfig) -> None:
        if not cluster.schema_registry_url:
            raise InvalidRequest(f"cluster `{cluster.name}` has no schema_registry_url")
        self.cluster = cluster
        self.url, url_user, url_password = _split_url(cluster.schema_registry_url)
        # Refused per call rather than here, so browsing the cluster still works (values shown as base64).
        self._config_error = (
            None
            if self.url.startswith(("http://", "https://"))
            else f"schema_registry_url of cluster `{cluster.name}` must start with http:// or https://"
        )
        user = cluster.schema_registry_username or url_user
        password = cluster.schema_registry_password or url_password
        self._auth = "Basic " + base64.b64encode(f"{user}:{password or ''}".encode()).decode("ascii") if user else None
        context = ssl.create_default_context()
        if cluster.ssl_ca_location:  # a private CA usually signs the registry's certificate too
            context.load_verify_locations(cluster.ssl_ca_location)
        self._opener = urllib.request.build_opener(_NoRedirect(), urllib.request.HTTPSHandler(context=context))
        self._lock = threading.Lock()
        self._schemas: OrderedDict[int, Schema] = OrderedDict()
        self._missing: dict[int, tuple[float, str]] = {}
        self._down: tuple[float, str] | None = None

    def __repr__(self) -> str:
        return f"Registry({self.cluster.name!r}, {self.url!r})"

    @property
    def where(self) -> str:
        return f"schema registry of cluster `{self.cluster.name}` at {self.url}"

    # --- the REST calls ------------------------------------------------------------------

    def schema(self, schema_id: int) -> Schema:
        """The schema with this id (cached); SchemaNotFound or ClusterUnavailable otherwise."""
        with self._lock:
            cached = self._schemas.get(schema_id)
            if cached is not None:
                self._schemas.move_to_end(schema_id)
                return cached
            missing = self._missing.get(schema_id)
        if missing is not None and missing[0] > time.monotonic():
            raise SchemaNotFound(missing[1])
        try:
            body = self._get(f"/schemas/ids/{int(schema_id)}")
            schema = self._build(schema_id, body, depth=0)
        except InvalidRequest as exc:
            # Not found, or not usable (invalid, a missing reference): remembered a while, so a
            # scan over many events of this schema asks once, not once per event.
            message = exc.message
            if isinstance(exc, SchemaNotFound):
                message = f"schema {schema_id} not found in the {self.where}"
            with self._lock:
                if len(self._missing) >= MAX_SCHEMAS:  # ids from corrupt data: keep the memory bounded
                    self._missing.clear()
                self._missing[schema_id] = (time.monotonic() + MISSING_SECONDS, message)
            raise SchemaNotFound(message) from None
        self._remember(schema)
        return schema

    def _remember(self, schema: Schema) -> None:
        with self._lock:
            self._schemas[schema.schema_id] = schema
            while len(self._schemas) > MAX_SCHEMAS:
                self._schemas.popitem(last=False)

    def version(self, subject: str, version: int | str = "latest") -> SubjectVersion:
        """A version of a subject (`latest` by default), with its schema."""
        path = f"/subjects/{urllib.parse.quote(subject, safe='')}/versions/{urllib.parse.quote(str(version))}"
        try:
            body = self._get(path)
        except SchemaNotFound:
            what = "has no versions" if version == "latest" else f"has no version {version}"
            message = f"subject `{subject}` {what} in the {self.where}"
            raise SchemaNotFound(message, fields={"subject": message}) from None
        if not isinstance(body, dict) or not isinstance(body.get("id"), int):
            self._bad_answer(path)
        schema_id = body["id"]
        with self._lock:
            schema = self._schemas.get(schema_id)
        if schema is None:
            schema = self._build(schema_id, body, depth=0)
            self._remember(schema)
        return SubjectVersion(subject=subject, version=int(body.get("version") or 0), schema=schema)

    def latest(self, subject: str) -> SubjectVersion:
        """The latest version of a subject, for producing (never cached: a new version may be registered)."""
        return self.version(subject, "latest")

    def register(self, subject: str, schema_text: str, schema_type: str = "AVRO") -> int:
        """Register a schema under a subject (or find it there); its id."""
        if schema_type not in SCHEMA_TYPES:
            raise InvalidRequest(f"schema type must be one of {', '.join(SCHEMA_TYPES)}")
        payload: dict[str, Any] = {"schema": schema_text}
        if schema_type != "AVRO":
            payload["schemaType"] = schema_type
        path = f"/subjects/{urllib.parse.quote(subject, safe='')}/versions"
        body = self._call("POST", path, json.dumps(payload).encode())
        if not isinstance(body, dict) or not isinstance(body.get("id"), int):
            self._bad_answer(path)
        return int(body["id"])

    # --- plumbing ------------------------------------------------------------------------

    def _build(self, schema_id: int, body: Any, *, depth: int) -> Schema:
        if not isinstance(body, dict) or not isinstance(body.get("schema"), str):
            self._bad_answer(f"schema {schema_id}")
        schema_type = body.get("schemaType") or "AVRO"
        text = body["schema"]
        parsed = None
        named: dict[str, Any] = {}
        if schema_type == "AVRO":
            self._load_references(body.get("references") or [], named, depth=depth)
            parsed = self._parse_avro(text, named, f"schema {schema_id}")
        return Schema(
            schema_id=schema_id,
            schema_type=str(schema_type),
            text=text,
            parsed=parsed,
            named=named,
            unbounded=schema_type == "AVRO" and _has_empty_items(parsed, named, set()),
        )

    def _load_references(self, references: list[Any], named: dict[str, Any], *, depth: int) -> None:
        """Parse referenced schemas first, so their named types resolve in the referring one."""
        if references and depth >= MAX_REFERENCE_DEPTH:
            raise InvalidRequest(f"schema references nested deeper than {MAX_REFERENCE_DEPTH} in the {self.where}")
        for ref in references:
            if not isinstance(ref, dict) or not isinstance(ref.get("subject"), str):
                continue
            path = f"/subjects/{urllib.parse.quote(ref['subject'], safe='')}/versions/{int(ref.get('version') or 1)}"
            body = self._get(path)
            if not isinstance(body, dict) or not isinstance(body.get("schema"), str):
                self._bad_answer(path)
            self._load_references(body.get("references") or [], named, depth=depth + 1)
            self._parse_avro(body["schema"], named, f"reference `{ref.get('name')}`")

    def _parse_avro(self, text: str, named: dict[str, Any], what: str) -> Any:
        try:
            return fastavro.parse_schema(json.loads(text), named_schemas=named)
        except Exception as exc:  # noqa: BLE001 — fastavro raises SchemaParseException, ValueError, KeyError, …
            raise InvalidRequest(f"{what} in the {self.where} is not a valid Avro schema: {exc}"[:400]) from None

    def _get(self, path: str) -> Any:
        return self._call("GET", path, None)

    def _bad_answer(self, what: str) -> NoReturn:
        raise ClusterUnavailable(
            f"the {self.where} answered {what} with something that is not a Schema Registry response; "
            "check schema_registry_url"
        )

    def _call(self, method: str, path: str, body: bytes | None) -> Any:
        if self._config_error:
            raise ClusterUnavailable(self._config_error)
        down = self._down
        if down is not None and down[0] > time.monotonic():
            raise ClusterUnavailable(down[1])
        try:
            return self._send(method, path, body)
        except ClusterUnavailable as exc:
            message = f"{exc.message} (not asked again for {DOWN_SECONDS:.0f} s)"
            self._down = (time.monotonic() + DOWN_SECONDS, message)
            raise ClusterUnavailable(message) from None

    def _send(self, method: str, path: str, body: bytes | None) -> Any:
        request = urllib.request.Request(self.url + path, data=body, method=method)  # noqa: S310 — http(s) only, checked at start-up
        request.add_header("Accept", f"{CONTENT_TYPE}, application/json")
        if body is not None:
            request.add_header("Content-Type", CONTENT_TYPE)
        if self._auth:
            request.add_unredirected_header("Authorization", self._auth)
        seconds = timeout()
        try:
            with self._opener.open(request, timeout=seconds) as response:
                raw = response.read(MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as exc:
            self._http_error(exc)
        except TimeoutError:
            raise ClusterUnavailable(f"the {self.where} did not answer within {seconds:.1f} s") from None
        except urllib.error.URLError as exc:
            raise ClusterUnavailable(f"the {self.where} is unreachable: {_reason(exc.reason)}") from None
        except (OSError, ValueError) as exc:
            raise ClusterUnavailable(f"the {self.where} is unreachable: {_reason(exc)}") from None
        if len(raw) > MAX_RESPONSE_BYTES:
            raise ClusterUnavailable(f"the {self.where} answered more than {MAX_RESPONSE_BYTES // 1024} KiB")
        try:
            return json.loads(raw)
        except ValueError:
            self._bad_answer(path)

    def _http_error(self, exc: urllib.error.HTTPError) -> NoReturn:
        try:
            detail = json.loads(exc.read(64 * 1024))
            message = str(detail.get("message") or "")[:300] if isinstance(detail, dict) else ""
        except (ValueError, OSError):
            message = ""
        finally:
            exc.close()
        status = exc.code
        if status in (401, 403):
            raise ClusterUnavailable(
                f"the {self.where} refused the credentials (HTTP {status}); "
                "check schema_registry_username and schema_registry_password"
            )
        if status == 404:
            raise SchemaNotFound(message or "not found")
        if status in (409, 422):
            raise InvalidRequest(f"the {self.where} refused the schema: {message or f'HTTP {status}'}")
        if 300 <= status < 400:
            raise ClusterUnavailable(f"the {self.where} answered a redirect (HTTP {status}); set the final URL")
        raise ClusterUnavailable(f"the {self.where} answered HTTP {status}" + (f": {message}" if message else ""))


def _takes_no_bytes(schema: Any, named: dict[str, Any], seen: set[str]) -> bool:
    if isinstance(schema, str):
        if schema == "null":
            return True
        if schema in named and schema not in seen:
            return _takes_no_bytes(named[schema], named, seen | {schema})
        return False
    if isinstance(schema, list):  # a union writes its branch index
        return False
    if isinstance(schema, dict):
        kind = schema.get("type")
        if kind in ("record", "error"):
            return all(_takes_no_bytes(f.get("type"), named, seen) for f in schema.get("fields", []))
        if kind == "fixed":
            return schema.get("size") == 0
        if isinstance(kind, str | dict | list) and kind not in ("array", "map", "enum"):
            return _takes_no_bytes(kind, named, seen)
    return False


def _has_empty_items(schema: Any, named: dict[str, Any], seen: set[str]) -> bool:
    """Some array or map in the schema holds items that take no bytes."""
    if isinstance(schema, str):
        if schema in named and schema not in seen:
            return _has_empty_items(named[schema], named, seen | {schema})
        return False
    if isinstance(schema, list):
        return any(_has_empty_items(branch, named, seen) for branch in schema)
    if not isinstance(schema, dict):
        return False
    kind = schema.get("type")
    if kind == "array":
        return _takes_no_bytes(schema.get("items"), named, seen) or _has_empty_items(schema.get("items"), named, seen)
    if kind == "map":
        return _has_empty_items(schema.get("values"), named, seen)  # keys are strings: at least one byte
    if kind in ("record", "error"):
        return any(_has_empty_items(f.get("type"), named, seen) for f in schema.get("fields", []))
    if isinstance(kind, dict | list):
        return _has_empty_items(kind, named, seen)
    return False


def _reason(reason: object) -> str:
    if isinstance(reason, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({reason.verify_message}); set ssl_ca_location"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return "host name not found"
    if isinstance(reason, TimeoutError):
        return "timed out"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return type(reason).__name__ if not isinstance(reason, str) else reason


_registries: dict[str, Registry] = {}
_registries_lock = threading.Lock()


def registry_for(cluster_name: str) -> Registry | None:
    """The cluster's registry client (one per process, schemas cached), or None without schema_registry_url."""
    cluster = require_cluster(cluster_name)
    if not cluster.schema_registry_url:
        return None
    with _registries_lock:
        registry = _registries.get(cluster_name)
        if registry is None or registry.cluster != cluster:
            registry = _registries[cluster_name] = Registry(cluster)
        return registry


def reset_registries() -> None:
    with _registries_lock:
        _registries.clear()
