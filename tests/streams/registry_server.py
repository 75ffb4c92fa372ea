"""A SMALL TEST SCHEMA REGISTRY, not Confluent's: a real HTTP server on 127.0.0.1 (http.server in a
thread) that speaks the subset of the Confluent Schema Registry REST API the console uses.

    GET  /schemas/ids/{id}                      {"schema": "...", "schemaType"?, "references"?}
    GET  /subjects                              ["orders-value", ...]
    GET  /subjects/{subject}/versions           [1, 2]
    GET  /subjects/{subject}/versions/{v}       {"subject", "version", "id", "schema", ...}  (v: number or latest)
    POST /subjects/{subject}/versions           {"schema", "schemaType"?, "references"?} -> {"id"}

Errors as Confluent's: {"error_code": 40401|40402|40403|42201|401, "message": ...}. Identical
schemas get the same id, as in Confluent's. Optional HTTP basic auth (`username`/`password`);
`delay` makes every answer wait (timeouts); `requests` records (method, path) of every call.
No real registry can run on these machines (no JVM, no Docker), hence this stand-in; the
client under test (streams/events/registry.py) is the product's real one.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import fastavro


@dataclass
class _Stored:
    schema_id: int
    text: str
    schema_type: str
    references: list[dict[str, Any]]

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schema": self.text}
        if self.schema_type != "AVRO":
            out["schemaType"] = self.schema_type
        if self.references:
            out["references"] = self.references
        return out


@dataclass
class RegistryServer:
    username: str | None = None
    password: str | None = None
    delay: float = 0.0
    requests: list[tuple[str, str]] = field(default_factory=list)
    schemas: dict[int, _Stored] = field(default_factory=dict)
    subjects: dict[str, list[int]] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> RegistryServer:
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                registry._handle(self, "GET")

            def do_POST(self) -> None:
                registry._handle(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True, name="test-schema-registry").start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def register(
        self,
        subject: str,
        schema: str | dict[str, Any] | list[Any],
        schema_type: str = "AVRO",
        references: list[dict[str, Any]] | None = None,
    ) -> int:
        """Register directly (as another team's producer would have); the schema's id."""
        text = schema if isinstance(schema, str) else json.dumps(schema)
        with self._lock:
            for stored in self.schemas.values():
                if stored.text == text and stored.schema_type == schema_type:
                    schema_id = stored.schema_id
                    break
            else:
                schema_id = len(self.schemas) + 1
                self.schemas[schema_id] = _Stored(schema_id, text, schema_type, list(references or []))
            versions = self.subjects.setdefault(subject, [])
            if schema_id not in versions:
                versions.append(schema_id)
        return schema_id

    # --- HTTP ----------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        self.requests.append((method, request.path))
        if self.delay:
            time.sleep(self.delay)
        if self.username is not None:
            expected = "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            if request.headers.get("Authorization") != expected:
                return self._send(request, 401, {"error_code": 401, "message": "Unauthorized"})
        parts = [urllib.parse.unquote(p) for p in request.path.split("?")[0].strip("/").split("/")]
        try:
            status, body = self._route(method, parts, request)
        except ValueError as exc:
            status, body = 422, {"error_code": 42201, "message": f"Invalid schema: {exc}"}
        self._send(request, status, body)

    def _route(self, method: str, parts: list[str], request: BaseHTTPRequestHandler) -> tuple[int, Any]:
        if method == "GET" and len(parts) == 3 and parts[:2] == ["schemas", "ids"] and parts[2].isdigit():
            stored = self.schemas.get(int(parts[2]))
            if stored is None:
                return 404, {"error_code": 40403, "message": f"Schema {parts[2]} not found"}
            return 200, stored.body()
        if method == "GET" and parts == ["subjects"]:
            return 200, sorted(self.subjects)
        if len(parts) >= 3 and parts[0] == "subjects" and parts[2] == "versions":
            subject = parts[1]
            if method == "POST" and len(parts) == 3:
                length = int(request.headers.get("Content-Length") or 0)
                payload = json.loads(request.rfile.read(length) or b"{}")
                schema_type = payload.get("schemaType") or "AVRO"
                if schema_type == "AVRO":
                    fastavro.parse_schema(json.loads(payload["schema"]))  # ValueError → 422
                return 200, {"id": self.register(subject, payload["schema"], schema_type, payload.get("references"))}
            versions = self.subjects.get(subject)
            if versions is None:
                return 404, {"error_code": 40401, "message": f"Subject '{subject}' not found."}
            if method == "GET" and len(parts) == 3:
                return 200, list(range(1, len(versions) + 1))
            if method == "GET" and len(parts) == 4:
                wanted = parts[3]
                number = len(versions) if wanted == "latest" else int(wanted) if wanted.isdigit() else 0
                if not 1 <= number <= len(versions):
                    return 404, {"error_code": 40402, "message": f"Version {wanted} not found."}
                stored = self.schemas[versions[number - 1]]
                return 200, {"subject": subject, "version": number, "id": stored.schema_id, **stored.body()}
        return 404, {"error_code": 404, "message": "HTTP 404 Not Found"}

    def _send(self, request: BaseHTTPRequestHandler, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        try:
            request.send_response(status)
            request.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
            request.send_header("Content-Length", str(len(data)))
            request.end_headers()
            request.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing to answer
