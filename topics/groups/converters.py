"""The `<group:…>` path converter: any consumer group id, `/` and `%` included (as for topics)."""

from __future__ import annotations

from django.urls import register_converter

from topics.converters import TopicNameConverter


class GroupIdConverter(TopicNameConverter):
    def to_url(self, value: str) -> str:
        text = str(value).replace("%", "%25").replace("/", "%2F")
        # A browser would resolve these as path segments (`..` = the parent page).
        return text.replace(".", "%2E") if text in (".", "..") else text


register_converter(GroupIdConverter, "group")
