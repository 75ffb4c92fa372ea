"""The `<topic:…>` path converter: any name a broker can hold, `/` and `%` included.

Apache Kafka limits topic names to `[a-zA-Z0-9._-]`, but other Kafka-protocol brokers
accept more (the embedded one accepts `odd/name`), and every topic a broker holds must
render and link. A path segment cannot hold `/`, so the name is escaped once more than
Django's own quoting: `/` → `%2F` and `%` → `%25` here, which `reverse()` quotes again
(`%252F`); the server decodes one level, and `to_python` the other. Names made of legal
Kafka characters come out unchanged (`/clusters/local/topics/orders.eu/`), except `new`,
whose plain address is the create page.
"""

from __future__ import annotations

from urllib.parse import unquote

from django.urls import register_converter


class TopicNameConverter:
    regex = "[^/]+"

    def to_python(self, value: str) -> str:
        return unquote(value)

    def to_url(self, value: str) -> str:
        text = str(value).replace("%", "%25").replace("/", "%2F")
        if text in (".", ".."):
            # A browser would resolve these as path segments (`..` = the parent page).
            text = text.replace(".", "%2E")
        elif text == "new":
            # `topics/new/` is the create page; a topic called `new` (legal in Kafka) still gets its own.
            text = "%6Eew"
        return text


register_converter(TopicNameConverter, "topic")
