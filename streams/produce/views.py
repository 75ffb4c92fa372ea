"""The produce page: a form, a preview of exactly what will be sent, then the send itself.

"Produce a copy" on an event links here with `key`, `value`, `headers` (a JSON list of
{key, value}) and `partition` in the query string (optionally `value_format` and `subject`);
the form starts from them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render

from backbone_admin.kafka import BackboneError
from backbone_admin.kafka.topics import describe_topic
from backbone_admin.models import Role
from backbone_admin.roles import require_topic_role
from backbone_admin.web import backbone_errors
from streams.produce.services import (
    DEFAULT_PARTITIONER,
    PARTITIONER_NAMES,
    PreparedEvent,
    ProducedEvent,
    prepare_event,
    produce_event,
)

FORMAT_CHOICES = [("text", "Text"), ("json", "JSON (checked before sending)"), ("avro", "Avro (Schema Registry)")]
FIELDS = ("key", "value", "value_format", "subject", "partition", "tombstone")


class ProduceForm(forms.Form):
    key = forms.CharField(required=False, strip=False, widget=forms.TextInput(attrs={"class": "mono", "size": 50}))
    partition = forms.IntegerField(required=False, widget=forms.NumberInput(attrs={"placeholder": "by key"}))
    value_format = forms.ChoiceField(choices=FORMAT_CHOICES, initial="text", required=False)
    subject = forms.CharField(required=False, max_length=255, widget=forms.TextInput(attrs={"class": "mono"}))
    value = forms.CharField(
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 12, "class": "mono", "spellcheck": "false"}),
    )
    tombstone = forms.BooleanField(required=False)
    # Headers come as parallel lists (header_key / header_value), outside the form's fields.

    def event_kwargs(self, headers: list[tuple[str, str]]) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "key": data["key"] if data["key"] != "" else None,
            "value": None if data["tombstone"] else data["value"],
            "headers": headers,
            "partition": data["partition"],
            "value_format": data["value_format"] or "text",
            "subject": data["subject"] or None,
        }


def _posted_headers(post: QueryDict) -> list[tuple[str, str]]:
    """The header rows that hold anything (a blank row is the page's spare one)."""
    names, values = post.getlist("header_key"), post.getlist("header_value")
    rows = zip(names, values + [""] * (len(names) - len(values)), strict=False)
    return [(name.strip(), value) for name, value in rows if name.strip() or value]


def _prefill(query: QueryDict) -> tuple[ProduceForm, list[tuple[str, str]], list[str]]:
    """The form as a "produce a copy" link asks for it; notices for what the link got wrong."""
    notices: list[str] = []
    value = query.get("value", "")
    value_format = query.get("value_format", "")
    if value_format not in dict(FORMAT_CHOICES):
        value_format = "text"
        try:
            if isinstance(json.loads(value), dict | list):
                value_format = "json"
        except (ValueError, RecursionError):
            pass
    partition: int | None = None
    asked = query.get("partition", "")
    if asked != "":
        try:
            partition = int(asked)
        except ValueError:
            notices.append(f"The link's partition `{asked}` is not a number: by key instead.")
    headers: list[tuple[str, str]] = []
    listed_headers = query.get("headers", "")
    if listed_headers:
        try:
            listed = json.loads(listed_headers)
            if not isinstance(listed, list):
                raise ValueError
            for item in listed:
                if not isinstance(item, dict) or not isinstance(item.get("key"), str):
                    raise ValueError
                text = item.get("value")
                headers.append((item["key"], "" if text is None else str(text)))
        except (ValueError, RecursionError):
            headers = []
            notices.append("The link's headers are not a JSON list of {key, value}: left out.")
    initial = {
        "key": query.get("key", ""),
        "value": value,
        "value_format": value_format,
        "subject": query.get("subject", ""),
        "partition": partition,
    }
    return ProduceForm(initial=initial), headers, notices


def _place_errors(form: ProduceForm, exc: BackboneError) -> list[str]:
    """Put each problem beside its field; the headers' problems are returned (they are no form field)."""
    header_errors: list[str] = []
    for name, message in exc.fields.items():
        if name == "headers":
            header_errors.append(str(message))
        else:
            form.add_error(name if name in FIELDS else None, str(message))
    if not exc.fields:
        form.add_error(None, exc.message)
    return header_errors


@backbone_errors
def produce(request: HttpRequest, cluster: str, topic: str) -> HttpResponse:
    config = require_topic_role(request.user, cluster, topic, Role.OPERATOR, change=True)
    meta = describe_topic(config.name, topic)
    notices: list[str] = []
    header_errors: list[str] = []
    prepared: PreparedEvent | None = None
    produced: ProducedEvent | None = None
    status = 200
    preview = request.POST.get("preview") == "1"
    if request.method == "POST":
        form = ProduceForm(request.POST)
        headers = _posted_headers(request.POST)
        if form.is_valid():
            try:
                kwargs = form.event_kwargs(headers)
                if preview:
                    prepared = prepare_event(cluster=config.name, topic=topic, **kwargs)
                else:
                    produced = produce_event(
                        user=request.user, cluster=config.name, topic=topic, request=request, **kwargs
                    )
            except BackboneError as exc:
                header_errors = _place_errors(form, exc)
                status = exc.status
        if (form.errors or header_errors) and status < 400:
            status = 400
    else:
        form, headers, notices = _prefill(request.GET)
    context = {
        "cluster": config.public(),
        "topic": topic,
        "partitions": len(meta.partitions),
        "partitioner": PARTITIONER_NAMES[config.partitioner or DEFAULT_PARTITIONER],
        "form": form,
        "headers": headers,
        "header_errors": header_errors,
        "notices": notices,
        "prepared": prepared,
        "produced": produced,
        "produced_at": datetime.fromtimestamp(produced.timestamp / 1000, UTC) if produced else None,
        "preview_requested": preview,
    }
    if preview and request.headers.get("HX-Request"):
        # htmx swaps only 2xx answers: the preview fragment carries its errors itself.
        return render(request, "streams/produce.html#preview", context)
    return render(request, "streams/produce.html", context, status=status)
