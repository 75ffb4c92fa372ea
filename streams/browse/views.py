"""Message pages: browse and search a topic, one event in full (and its bytes), a key's timeline."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse

from backbone_admin.clusters import ClusterConfig
from backbone_admin.kafka import ClusterUnavailable, InvalidRequest, PermissionDenied
from backbone_admin.kafka.topics import describe_topic
from backbone_admin.models import Role
from backbone_admin.roles import has_topic_role, require_cluster_visible
from backbone_admin.web import backbone_errors
from streams.browse import keys, present
from streams.browse.browse import read_event
from streams.browse.positions import Cursor
from streams.browse.query import (
    MAX_LIMIT,
    EventDecoder,
    MessageQuery,
    Result,
    budget_for,
    default_budget,
    parse_query,
    run_query,
)
from streams.events.filters import FILTER_EXAMPLES, FILTER_HELP
from streams.events.masking import WITHHELD
from streams.permissions import masked_for, reads_somewhere, require_reader, topic_roles
from topics.listing import topic_index

# Parameters a pager link keeps; the start parameters give way to the cursor.
KEPT = ("partition", "key", "all_partitions", "q", "limit", "direction", "max_events", "max_bytes", "max_seconds")
TIMELINE_TOPIC_INPUTS = 3
TOPIC_SUGGESTIONS = 2000


def search_socket_path(cluster: str, topic: str) -> str:
    """The search websocket's path: the page's own path (topic quoted the same way) under /ws/."""
    page = reverse("streams:messages", kwargs={"cluster": cluster, "topic": topic})
    return "/ws" + page.removesuffix("messages/") + "search/"


def _link(request: HttpRequest, cursor: Cursor | None) -> str | None:
    if cursor is None:
        return None
    params = QueryDict(mutable=True)
    for name in KEPT:
        value = request.GET.get(name)
        if value:
            params[name] = value
    params["cursor"] = cursor.encode()
    return f"{request.path}?{params.urlencode()}"


def _form_values(request: HttpRequest, query: MessageQuery | None) -> dict[str, Any]:
    get = request.GET
    budget = default_budget()
    return {
        "partition": get.get("partition", ""),
        "start": get.get("start", "") or (query.start if query else "newest"),
        "direction": query.order if query else get.get("direction", "newest"),
        "offset": get.get("offset", ""),
        "timestamp": get.get("timestamp", ""),
        "when": get.get("when", ""),
        "group": get.get("group", ""),
        "key": get.get("key", ""),
        "all_partitions": get.get("all_partitions") in ("1", "on", "true"),
        "q": get.get("q", ""),
        "limit": get.get("limit", "") or settings.BROWSE_DEFAULT_LIMIT,
        "max_events": get.get("max_events", "") or budget["max_events"],
        "max_bytes": get.get("max_bytes", "") or budget["max_bytes"],
        "max_seconds": get.get("max_seconds", "") or f"{budget['max_seconds']:g}",
    }


def _result_context(request: HttpRequest, config: ClusterConfig, topic: str, result: Result) -> dict[str, Any]:
    page = result.page
    rows = [present.event_row(e, config.name, topic, max_value=settings.BROWSE_MAX_VALUE) for e in result.events]
    return {
        "rows": rows,
        "scan": page.scan.report(),
        "merged": page.merged,
        "next_url": _link(request, page.next),
        "previous_url": _link(request, page.previous),
        "notes": result.notes,
        "key_partitions": result.key_partitions.describe() if result.key_partitions else None,
        "order": page.order,
        "found": len(rows),
        "filter_help": present.filter_help(result.events, FILTER_EXAMPLES),
    }


@backbone_errors
def messages(request: HttpRequest, cluster: str, topic: str) -> HttpResponse:
    config = require_reader(request.user, cluster, topic)
    meta = describe_topic(config.name, topic)
    masked = masked_for(request.user, config.name, topic)
    context: dict[str, Any] = {
        "cluster": config.public(),
        "topic": topic,
        "partitions": [p.id for p in meta.partitions],
        "masking": masked and bool(config.mask_fields or config.mask_patterns),
        # Until a page of events gives its own fields (_result_context), the demo's examples.
        "filter_help": present.FilterHelp(list(FILTER_EXAMPLES), [], 0),
        "filter_grammar": FILTER_HELP,
        "budget": default_budget(),
        "max_limit": MAX_LIMIT,
        "ws_path": search_socket_path(config.name, topic),
    }
    status = 200
    query = None
    try:
        query = parse_query(request.GET)
        # A search streams into the page over the websocket (messages.js); `sync=1` runs it here
        # instead, for a browser without JavaScript.
        context["stream"] = query.searching and request.GET.get("sync") != "1"
        if not context["stream"]:
            result = run_query(config, topic, query, masked=masked, budget=budget_for(query, api=True))
            context.update(_result_context(request, config, topic, result))
    except InvalidRequest as exc:
        context["error"] = exc.message
        context["fields"] = exc.fields
        status = 400
    except ClusterUnavailable as exc:
        context["error"] = exc.message
        status = 503
    context["form"] = _form_values(request, query)
    context["searching"] = bool(query and query.searching)
    return render(request, "streams/browse/messages.html", context, status=status)


def _event_params(request: HttpRequest) -> tuple[int, int]:
    values = []
    for name in ("partition", "offset"):
        text = request.GET.get(name, "").strip()
        if not text.isdigit() or len(text) > 19:
            raise InvalidRequest(f"{name}: a whole number is needed", fields={name: "a whole number is needed"})
        values.append(int(text))
    return values[0], values[1]


@backbone_errors
def event_detail(request: HttpRequest, cluster: str, topic: str) -> HttpResponse:
    config = require_reader(request.user, cluster, topic)
    partition, offset = _event_params(request)
    masked = masked_for(request.user, config.name, topic)
    record = read_event(config.name, topic, partition, offset)
    event = EventDecoder(config, masked=masked)(record)
    data = present.event_row(event, config.name, topic, max_value=None)
    operator = has_topic_role(request.user, config.name, topic, Role.OPERATOR)
    writable = not config.read_only and operator
    base = reverse("streams:event_download", kwargs={"cluster": config.name, "topic": topic})
    context = {
        "cluster": config.public(),
        "topic": topic,
        "event": data,
        "copy_url": present.copy_url(data, config.name, topic) if writable else None,
        "can_produce": writable,
        "download_value": f"{base}?{urlencode({'partition': partition, 'offset': offset, 'part': 'value'})}",
        "download_key": f"{base}?{urlencode({'partition': partition, 'offset': offset, 'part': 'key'})}",
        "masking": event.masking,
        "browse_url": reverse("streams:messages", kwargs={"cluster": config.name, "topic": topic}),
        # Replaying one event: the replay form with the range [offset, offset + 1) of its partition.
        "replay_url": (
            reverse("streams:job_replay", kwargs={"cluster": config.name, "topic": topic})
            + "?"
            + urlencode(
                {
                    "partitions": partition,
                    "start_kind": "offset",
                    "start_value": offset,
                    "end_kind": "offset",
                    "end_value": offset + 1,
                }
            )
            if operator
            else None
        ),
        "json": {k: v for k, v in data.items() if k not in ("pretty", "utc", "decoded_as", "detail_url", "id")},
    }
    return render(request, "streams/browse/event_detail.html", context)


@backbone_errors
def event_download(request: HttpRequest, cluster: str, topic: str) -> HttpResponse:
    """The key's or value's bytes as stored; as shown (masked text) when masking changed them for this user."""
    config = require_reader(request.user, cluster, topic)
    partition, offset = _event_params(request)
    part = request.GET.get("part", "value")
    if part not in ("key", "value"):
        raise InvalidRequest("part: key or value", fields={"part": "key or value"})
    record = read_event(config.name, topic, partition, offset)
    event = EventDecoder(config, masked=masked_for(request.user, config.name, topic))(record)
    decoded = event.value if part == "value" else event.key
    # Withheld by masking, or too deeply nested to decode (withheld for everyone, masked for no one):
    # below admin on a cluster with masking rules its bytes were never masked.
    if decoded.encoding == "withheld" and (decoded.masked or event.masking):
        raise PermissionDenied(f"the {part} of this event {WITHHELD} ({decoded.error})")
    raw = record.value if part == "value" else record.key
    # An Avro value cut at its decoding budget was masked only as far as it was decoded: given as shown.
    shown = decoded.masked or (event.masking and decoded.encoding == "avro" and decoded.error is not None)
    body = decoded.text.encode() if shown and decoded.text is not None else (raw or b"")
    extension = {"json": "json", "avro": "json", "text": "txt"}.get(decoded.encoding, "bin")
    if decoded.encoding == "avro" and not shown:
        extension = "avro"
    safe_topic = "".join(c if c.isalnum() or c in "._-" else "_" for c in topic)
    response = HttpResponse(body, content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="{safe_topic}-{partition}-{offset}-{part}.{extension}"'
    return response


def _timeline_topics(request: HttpRequest) -> list[str]:
    names: list[str] = []
    for raw in request.GET.getlist("topic"):
        for name in raw.split(","):
            name = name.strip()
            if name and name not in names:
                names.append(name)
    return names


@backbone_errors
def key_timeline(request: HttpRequest, cluster: str) -> HttpResponse:
    config = require_cluster_visible(request.user, cluster)
    if not reads_somewhere(request.user, config.name):
        raise PermissionDenied(
            f"Event contents need the reader role on topics of cluster `{config.name}`: viewers see topics "
            "and their metadata, not the events in them. Ask an admin for the reader role."
        )
    key = request.GET.get("key", "")
    topics = _timeline_topics(request)
    # Each topic is read only if the user reads it (a hidden one answers as a missing one, on its
    # own line); masked as a whole unless the user is an admin of every topic named.
    masked = any(masked_for(request.user, config.name, t) for t in topics[: settings.KEY_TIMELINE_MAX_TOPICS])
    context: dict[str, Any] = {"cluster": config.public(), "key": key, "topics": topics, "every": False}
    context["topic_inputs"] = topics + [""] * max(1, TIMELINE_TOPIC_INPUTS - len(topics))
    try:
        # Suggested: only topics the user may read; the cut comes after the filter, so the
        # number of suggestions says nothing of the hidden ones.
        role_of = topic_roles(request.user)
        readable = Role.rank(Role.READER)
        names = (row[0] for row in topic_index(config.name)[1])
        context["suggestions"] = [n for n in names if Role.rank(role_of(config.name, n)) >= readable][
            :TOPIC_SUGGESTIONS
        ]
    except ClusterUnavailable:
        context["suggestions"] = []
    status = 200
    every = request.GET.get("all_partitions") in ("1", "on", "true")
    context["every"] = every
    # A link may bring only a key (from an event) or only a topic (from the browser): the form opens
    # with it filled in and waits for the rest, without an error for what nobody has asked yet.
    if key and topics:
        try:
            if len(key) > 4096:
                raise InvalidRequest("key: at most 4,096 characters", fields={"key": "too long"})
            if len(topics) > settings.KEY_TIMELINE_MAX_TOPICS:
                raise InvalidRequest(
                    f"topics: at most {settings.KEY_TIMELINE_MAX_TOPICS} topics in one timeline",
                    fields={"topic": "too many"},
                )
            timeline = keys.key_timeline(
                config,
                topics,
                key,
                masked=masked,
                check=lambda name: require_reader(request.user, config.name, name),
                limit=MAX_LIMIT,
                seconds=min(settings.SEARCH_DEFAULT_SECONDS, settings.SEARCH_API_MAX_SECONDS),
                every=every,
            )
        except InvalidRequest as exc:
            context["error"] = exc.message
            status = 400
        else:
            context["timeline"] = timeline
            context["rows"] = [
                {"topic": e.record.topic, **present.event_row(e, config.name, e.record.topic, max_value=500)}
                for e in timeline.events
            ]
            context["topic_reports"] = [
                {
                    "topic": entry.topic,
                    "error": entry.error,
                    "partitions": entry.result.key_partitions.describe()
                    if entry.result and entry.result.key_partitions
                    else None,
                    "found": len(entry.result.events) if entry.result else 0,
                    "scan": entry.result.scan.report() if entry.result else None,
                    "more_url": _more_url(config.name, entry.topic, key, every, entry.result),
                }
                for entry in timeline.topics
            ]
    return render(request, "streams/browse/key_timeline.html", context, status=status)


def _more_url(cluster: str, topic: str, key: str, every: bool, result: Result | None) -> str | None:
    if result is None or result.page.next is None:
        return None
    params = {"key": key, "direction": "oldest", "cursor": result.page.next.encode()}
    if every:
        params["all_partitions"] = "1"
    return reverse("streams:messages", kwargs={"cluster": cluster, "topic": topic}) + "?" + urlencode(params)
