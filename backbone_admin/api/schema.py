"""OpenAPI post-processing: every operation documents the errors it can answer, in their one shape."""

from __future__ import annotations

from typing import Any

ERROR_COMPONENT = "Error"
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every error of the API, whatever its status.",
    "properties": {
        "error": {"type": "string", "description": "what went wrong, in words a person can act on"},
        "fields": {
            "type": "object",
            "additionalProperties": True,
            "description": "per input field (or config name): what is wrong with it; empty when none is to blame",
        },
    },
    "required": ["error", "fields"],
}
ERRORS = {
    "400": "Invalid input: the message says what to change, `fields` which field",
    "401": "Not logged in, or the API token is unknown, expired or revoked",
    "403": "Your role does not allow this, or the cluster is read-only",
    "404": "Unknown (or, for a cluster you have no role on, hidden) cluster, topic, group, policy or object",
    "409": "The change conflicts with the current state (the topic exists, the group is active)",
    "503": "The cluster did not answer within its timeout, or refused the console's credentials",
}
WRITES = {"post", "put", "patch", "delete"}


def _codes(path: str, method: str, parameters: list[dict[str, Any]]) -> list[str]:
    codes = ["400", "401", "403"]
    if "{" in path or any(p.get("name") == "page" for p in parameters):
        codes.append("404")  # an unknown object, or a page past the end
    if method in WRITES:
        codes.append("409")
    if path.startswith("/api/clusters/{cluster}/"):
        codes.append("503")
    return codes


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """A drf-spectacular POSTPROCESSING_HOOK: add the error answers each operation can give."""
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_COMPONENT] = ERROR_SCHEMA
    error = {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}}}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for code in _codes(path, method, operation.get("parameters", [])):
                responses.setdefault(code, {"description": ERRORS[code], "content": error})
    return result
