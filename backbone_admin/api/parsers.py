"""The API's JSON bodies, refusing a lone surrogate before any view sees it.

A JSON string may spell a lone UTF-16 surrogate (`"\\ud800"`); Python decodes it into a str that
no UTF-8 encoder takes, so it fails wherever it goes next: the database, an answer that echoes
it (a 500), the Kafka client (the gateway refuses it: backbone_admin/kafka/names.py). Form
bodies and query strings cannot carry one (Django decodes them with replacement characters);
JSON bodies are refused here with a 400 naming where the surrogate is.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

from backbone_admin.kafka.names import lone_surrogate, shown

# Only a \u escape can spell a surrogate in a body that decoded as UTF-8; most bodies have none.
_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def surrogate_at(data: Any, where: str = "") -> str | None:
    """Where in parsed JSON a lone surrogate is (`a.b[2]`, or `(the body)`), or None."""
    if isinstance(data, str):
        return (where or "(the body)") if lone_surrogate(data) else None
    if isinstance(data, Mapping):
        for key, value in data.items():
            path = f"{where}.{shown(key, 40)}" if where else shown(key, 40)
            if isinstance(key, str) and lone_surrogate(key):
                return path
            if (found := surrogate_at(value, path)) is not None:
                return found
    elif isinstance(data, list):
        for index, value in enumerate(data):
            if (found := surrogate_at(value, f"{where}[{index}]")) is not None:
                return found
    return None


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        body = stream.read() if stream is not None else b""
        data = super().parse(io.BytesIO(body), media_type, parser_context)
        if _ESCAPE.search(body) and (where := surrogate_at(data)) is not None:
            raise ParseError(
                f"`{where}` is not valid Unicode text: it holds a lone surrogate "
                "(a \\ud800-\\udfff escape that is not half of a pair)"
            )
        return data
