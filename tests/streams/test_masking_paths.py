"""Masked stays masked on every read path, and no filter tells a masked value apart.

One cluster `local` with field and pattern masking (tests/streams/masking_helpers.py), one
topic holding an event of each form masking meets: strict JSON, JSON a lenient parser would
read (NaN, a byte-order mark, 70 leading spaces, 1,500 levels deep), protobuf, Avro whose
schema the registry does not have, a log line with JSON in it, plain text and a tombstone.

- `READ_PATHS` is the table of every way a user reads events (pages, API, search websocket,
  `sync=1`, tail, export JSON Lines and CSV, event detail, download, key timeline); each is run
  for a user below admin and must show no secret, withhold what cannot be masked and still
  show what can be. `test_every_event_route_is_in_the_table` fails when a route that reads
  events is added without an entry here.
- `FILTER_PAIRS` are filters that differ only in the secret they guess: below admin, the
  right and the wrong guess must find the same events on every path a filter runs (API,
  `sync=1`, search websocket, tail, export and replay filters). For an admin, the same pairs
  tell the guesses apart: they are real oracles where masking does not apply.

Everything runs on the real broker, a real Daphne, a real Celery worker and a real (small)
schema registry, each started with the masking clusters file.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient
from websockets.sync.client import connect

from backbone_admin.asgi import application  # noqa: F401 - loads the websocket routes
from backbone_admin.kafka.records import Record
from streams.events.filters import parse_filter
from streams.events.masking import WITHHELD
from streams.jobs.selection import Selection
from streams.routing import websocket_urlpatterns
from tests.conftest import _subprocess_env, daphne_server, independent_client_config, screenshot
from tests.streams.browse_helpers import create_topic, produce
from tests.streams.jobs_helpers import own_worker, wait_for
from tests.streams.masking_helpers import (
    FILTER_PAIRS,
    FIXTURES,
    SECRET_KEY,
    SHOWN_KEYS,
    SSN,
    WORKING_FILTERS,
    fixture_events,
    leaks,
    masking_yaml,
)
from tests.streams.registry_server import RegistryServer
from tests.streams.test_tail_websocket import Tail, cookie, pump_until, warm_up

pytestmark = pytest.mark.django_db(transaction=True)

EVERYTHING = "offset >= 0"  # a filter every event matches: makes a read a search


@dataclass
class World:
    url: str  # the Daphne serving the masking clusters file
    bootstrap: str
    text: str  # the clusters file
    topic: str  # the fixture events, one partition, offsets 0..len(FIXTURES)-1
    queue: str  # the Celery queue of the worker that reads the same file


@pytest.fixture(scope="module")
def world(
    django_db_setup: Any,
    kafka_bootstrap: str,
    redis_url: str,
    kafka_admin: AdminClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[World]:
    registry = RegistryServer().start()  # knows no schema: the Avro event cannot be decoded
    text = masking_yaml(registry_url=registry.url).replace("{LOCAL}", kafka_bootstrap)
    path = tmp_path_factory.mktemp("masking-paths") / "clusters.yml"
    path.write_text(text)
    topic = create_topic(kafka_admin, f"masked-{uuid.uuid4().hex[:8]}", partitions=1)
    produce(kafka_bootstrap, topic, fixture_events())
    queue = f"jobs-masking-{uuid.uuid4().hex[:6]}"
    env = {**_subprocess_env(kafka_bootstrap, redis_url), "BACKBONE_CLUSTERS_FILE": str(path)}
    try:
        with (
            daphne_server(env, "daphne-masking-paths.log") as (url, _),
            own_worker(kafka_bootstrap, redis_url, queue, "masking", BACKBONE_CLUSTERS_FILE=str(path)),
        ):
            yield World(url=url, bootstrap=kafka_bootstrap, text=text, topic=topic, queue=queue)
    finally:
        registry.stop()


@pytest.fixture
def here(world: World, settings: Any, clusters_file: Callable[[str], Path]) -> World:
    """This process reads the same clusters file, and queues jobs for the world's worker."""
    clusters_file(world.text)
    settings.JOBS_QUEUE = world.queue
    return world


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


# --- the read paths -------------------------------------------------------------------------


def _messages_url(world: World, **params: str) -> str:
    return f"/clusters/local/topics/{world.topic}/messages/?{urlencode({'limit': '50', **params})}"


def read_page(world: World, user: Any) -> str:
    response = _client(user).get(_messages_url(world))
    assert response.status_code == 200
    return response.content.decode()


def read_sync(world: World, user: Any) -> str:
    response = _client(user).get(_messages_url(world, q=EVERYTHING, sync="1"))
    assert response.status_code == 200
    return response.content.decode()


def read_api(world: World, user: Any) -> str:
    response = _api(user).get(f"/api/clusters/local/topics/{world.topic}/messages/?limit=50")
    assert response.status_code == 200, response.content
    return response.content.decode()


def _search(world: World, user: Any, params: dict[str, str]) -> list[dict[str, Any]]:
    url = world.url.replace("http://", "ws://") + f"/ws/clusters/local/topics/{world.topic}/search/"
    headers = {"Cookie": cookie(user), "Origin": world.url}
    messages = []
    with connect(url, additional_headers=headers, open_timeout=10) as ws:
        ws.send(json.dumps({"action": "search", "params": {"limit": "50", **params}}))
        while True:
            message = json.loads(ws.recv(timeout=30))
            messages.append(message)
            if message["type"] in ("done", "error"):
                return messages


def read_search_ws(world: World, user: Any) -> str:
    messages = _search(world, user, {"q": EVERYTHING})
    assert messages[-1]["type"] == "done", messages[-1]
    return json.dumps(messages, ensure_ascii=False)


def read_detail(world: World, user: Any) -> str:
    client, pages = _client(user), []
    for offset in range(len(FIXTURES)):
        response = client.get(f"/clusters/local/topics/{world.topic}/messages/event/?partition=0&offset={offset}")
        assert response.status_code == 200
        pages.append(response.content.decode())
    return "\n".join(pages)


def read_download(world: World, user: Any) -> str:
    client, bodies = _client(user), []
    for offset, fixture in enumerate(FIXTURES):
        for part in ("key", "value"):
            url = f"/clusters/local/topics/{world.topic}/messages/event/download/"
            response = client.get(f"{url}?partition=0&offset={offset}&part={part}")
            body = b"".join(response.streaming_content) if response.streaming else response.content
            withheld = part == "value" and fixture.withheld
            assert response.status_code == (403 if withheld else 200), (fixture.name, part, response.status_code)
            bodies.append(body.decode("utf-8", "replace"))
    return "\n".join(bodies)


def read_key_timeline(world: World, user: Any) -> str:
    client, pages = _client(user), []
    for key in SHOWN_KEYS:
        response = client.get(f"/clusters/local/key-timeline/?{urlencode({'key': key, 'topic': world.topic})}")
        assert response.status_code == 200, (key, response.status_code)
        pages.append(response.content.decode())
    return "\n".join(pages)


def _export(world: World, user: Any, fmt: str, flt: str = "") -> str:
    client = _api(user)
    body = {"kind": "export", "cluster": "local", "topic": world.topic, "format": fmt, "filter": flt}
    response = client.post("/api/jobs/", body, format="json")
    assert response.status_code == 201, response.content
    job = wait_for(int(response.json()["id"]))
    assert job.status == "succeeded", (job.status, job.error)
    download = client.get(f"/api/jobs/{job.pk}/download/")
    assert download.status_code == 200, download.content
    return b"".join(download.streaming_content).decode()


def read_export_jsonl(world: World, user: Any) -> str:
    return _export(world, user, "jsonl")


def read_export_csv(world: World, user: Any) -> str:
    return _export(world, user, "csv")


def read_tail(world: World, user: Any, flt: str = "") -> str:
    """A live tail of a topic of its own: it is opened, then the fixture events are written."""
    return json.dumps(_tail_events(world, user, [flt] if flt else [""])[0], ensure_ascii=False)


def _tail_events(world: World, users: Any, filters: list[str]) -> list[list[dict[str, Any]]]:
    """The events each tail (one per filter, each `… or key == "k-text"` so all end on one event,
    and the warm-up markers let through) receives while the fixture events are written to a
    topic of their own."""
    topic = create_topic(AdminClient(independent_client_config(world.bootstrap)), f"masked-tail-{uuid.uuid4().hex[:8]}")
    producer = Producer(independent_client_config(world.bootstrap, **{"linger.ms": 0}))
    tails = []
    base = world.url.replace("http://", "ws://") + f"/ws/clusters/local/topics/{topic}/tail/"
    for index, flt in enumerate(filters):
        user = users[index // 2] if isinstance(users, list) else users  # at most TAIL_MAX_PER_USER each
        term = json.dumps(flt) if parse_filter(flt).plain else flt  # plain text as a quoted term
        combined = f"({term}) or " + 'key == "k-text" or key == "warm-up"'
        query = f"?filter={quote(combined)}" if flt else ""
        headers = {"Cookie": cookie(user), "Origin": world.url}
        tails.append(Tail(connect(base + query, additional_headers=headers, open_timeout=10)))
    try:
        try:
            warm_up(producer, topic, tails)
        except AssertionError:
            raise AssertionError(f"warm-up: {[(t.close_code, t.errors, len(t.events)) for t in tails]}") from None
        for ev in fixture_events():
            producer.produce(topic, key=ev.key, value=ev.value, headers=ev.headers, partition=0)
        producer.flush(10)
        pump_until(tails, lambda: all(any(e["key"] == "k-text" for e in t.events) for t in tails), timeout=30)
        for t in tails:
            t.pump(0.3)
        return [t.events for t in tails]
    finally:
        for t in tails:
            t.ws.close()


READ_PATHS: dict[str, tuple[Callable[[World, Any], str], str]] = {
    # name: (how it reads, the role that reads: every role below admin that may)
    "page": (read_page, "reader"),
    "sync": (read_sync, "reader"),
    "api": (read_api, "reader"),
    "search_ws": (read_search_ws, "reader"),
    "detail": (read_detail, "reader"),
    "download": (read_download, "reader"),
    "key_timeline": (read_key_timeline, "reader"),
    "tail": (read_tail, "reader"),
    "export_jsonl": (read_export_jsonl, "operator"),
    "export_csv": (read_export_csv, "operator"),
}
# Routes that read events, and the READ_PATHS entries that cover them.
EVENT_ROUTES = {
    "streams:messages": ("page", "sync"),
    "api-messages": ("api",),
    "streams:event": ("detail",),
    "streams:event_download": ("download",),
    "streams:key_timeline": ("key_timeline",),
    "ws:SearchConsumer": ("search_ws",),
    "ws:TailConsumer": ("tail",),
    "api-job-download": ("export_jsonl", "export_csv"),
}
# Routes that serve no event contents (lists, forms, jobs' progress, counts).
NO_EVENTS = {"streams:tail_stats", "ws:JobProgressConsumer"}


@pytest.mark.parametrize("path", list(READ_PATHS))
def test_every_read_path_masks_and_withholds_below_admin(path: str, here: World, make_user: Any) -> None:
    read, role = READ_PATHS[path]
    shown = read(here, make_user(role))
    assert leaks(shown) == [], f"{path} shows {leaks(shown)}"
    assert WITHHELD in shown, f"{path} does not say what it withholds"
    if path not in ("key_timeline",):  # the timeline cannot look up the masked key at all
        assert "***" in shown, f"{path} does not show the masked event"
    if path != "download":  # downloads are each one key or value
        assert "card declined" in shown, f"{path} does not show what needs no masking"


def test_an_admin_sees_every_event_as_written(here: World, make_user: Any) -> None:
    shown = read_api(here, make_user("admin"))
    assert SSN in shown and SECRET_KEY in shown and WITHHELD not in shown


def _route_names() -> set[str]:
    names: set[str] = set()

    def walk(patterns: list[Any], namespace: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, f"{namespace}{p.namespace}:" if p.namespace else namespace)
            elif isinstance(p, URLPattern) and p.name:
                names.add(namespace + p.name)

    walk(get_resolver().url_patterns, "")
    return names


def test_every_event_route_is_in_the_table() -> None:
    """A route under streams (or the jobs API) is either a read path of the table or known to serve no event."""
    routes = {n for n in _route_names() if n.startswith("streams:") or n.startswith("api-message") or "job" in n}
    websocket = {f"ws:{getattr(p.callback, 'consumer_class', p.callback).__name__}" for p in websocket_urlpatterns}
    pages = {
        "streams:jobs",
        "streams:job",
        "streams:job_cancel",
        "streams:job_retry",
        "streams:job_replay",
        "streams:job_export",
        "streams:produce",
        "streams:tail",
        "api-jobs",
        "api-job",
        "api-job-cancel",
        "api-job-retry",
    }
    unknown = (routes | websocket) - set(EVENT_ROUTES) - NO_EVENTS - pages
    assert not unknown, f"routes that may read events are not in READ_PATHS: {sorted(unknown)}"
    for covered in EVENT_ROUTES.values():
        assert set(covered) <= set(READ_PATHS)


# --- filters as oracles ---------------------------------------------------------------------


def _found_api(world: World, user: Any, flt: str) -> set[int]:
    response = _api(user).get(f"/api/clusters/local/topics/{world.topic}/messages/?{urlencode({'q': flt})}")
    assert response.status_code == 200, response.content
    return {e["offset"] for e in response.json()["results"]}


def _found_sync(world: World, user: Any, flt: str) -> set[int]:
    response = _client(user).get(_messages_url(world, q=flt, sync="1"))
    assert response.status_code == 200
    return {int(m) for m in re.findall(r'data-id="0:(\d+)"', response.content.decode())}


def _found_search_ws(world: World, user: Any, flt: str) -> set[int]:
    done = _search(world, user, {"q": flt})[-1]
    assert done["type"] == "done", done
    return {int(item.split(":")[1]) for item in done["order"]}


def _found_selection(world: World, user: Any, flt: str) -> set[int]:
    """What an export's or a replay's filter takes (streams/jobs/selection.py), as the job runs it."""
    selection = Selection("local", flt, masked=True)
    found = set()
    for offset, ev in enumerate(fixture_events()):
        record = Record(
            partition=0,
            offset=offset,
            topic=world.topic,
            timestamp=ev.timestamp or 0,
            timestamp_type="create",
            key=ev.key,
            value=ev.value,
            headers=tuple(ev.headers),
        )
        if selection.keep(record) and selection.chosen(record) is not None:
            found.add(offset)
    return found


FILTER_PATHS: dict[str, Callable[[World, Any, str], set[int]]] = {
    "api": _found_api,
    "sync": _found_sync,
    "search_ws": _found_search_ws,
    "job_filter": _found_selection,
}


@pytest.mark.parametrize("pair", FILTER_PAIRS, ids=[p[0] for p in FILTER_PAIRS])
def test_no_filter_tells_a_masked_value_apart(pair: tuple[str, str], here: World, make_user: Any) -> None:
    right, wrong = pair
    reader, admin = make_user("reader"), make_user("admin")
    for name, found in FILTER_PATHS.items():
        assert found(here, reader, right) == found(here, reader, wrong), f"{name}: {right!r} is an oracle"
    # Where masking does not apply, the same pair does tell the guesses apart.
    assert _found_api(here, admin, right) != _found_api(here, admin, wrong)


def test_no_tail_filter_tells_a_masked_value_apart(here: World, make_user: Any) -> None:
    filters = [f for pair in FILTER_PAIRS for f in pair]
    received = _tail_events(here, [make_user("reader") for _ in FILTER_PAIRS], filters)
    keys = [sorted(e["key"] for e in events) for events in received]
    for i, (right, _wrong) in enumerate(FILTER_PAIRS):
        assert keys[2 * i] == keys[2 * i + 1], f"the tail filter {right!r} is an oracle: {keys[2 * i]}"


def test_an_export_filter_tells_no_masked_value_apart(here: World, make_user: Any) -> None:
    operator = make_user("operator")
    right, wrong = FILTER_PAIRS[2]  # the regex of the report: value ~ /<ssn>|\*\*\*/
    assert _export(here, operator, "jsonl", right) == _export(here, operator, "jsonl", wrong)


@pytest.mark.parametrize(("flt", "names"), WORKING_FILTERS, ids=[f[0] for f in WORKING_FILTERS])
def test_searching_still_works_on_what_a_masked_reader_sees(
    flt: str, names: set[str], here: World, make_user: Any
) -> None:
    wanted = {i for i, f in enumerate(FIXTURES) if f.name in names}
    reader = make_user("reader")
    for name, found in FILTER_PATHS.items():
        assert found(here, reader, flt) == wanted, name


# --- key look-ups ---------------------------------------------------------------------------


def test_a_masked_key_cannot_be_looked_up_below_admin(here: World, make_user: Any) -> None:
    reader, admin = make_user("reader"), make_user("admin")
    for key in (SECRET_KEY, "zed@secret.example"):
        api = _api(reader).get(f"/api/clusters/local/topics/{here.topic}/messages/?{urlencode({'key': key})}")
        assert api.status_code == 400 and "key" in api.json()["fields"], api.content
        timeline = _client(reader).get(f"/clusters/local/key-timeline/?{urlencode({'key': key, 'topic': here.topic})}")
        assert timeline.status_code == 400
    found = _api(admin).get(f"/api/clusters/local/topics/{here.topic}/messages/?{urlencode({'key': SECRET_KEY})}")
    assert [e["offset"] for e in found.json()["results"]] == [0]
    # A key masking leaves alone is found as before.
    shown = _api(reader).get(f"/api/clusters/local/topics/{here.topic}/messages/?key=k-text")
    assert [e["key"] for e in shown.json()["results"]] == ["k-text"]


@pytest.mark.browser
def test_the_page_shows_what_it_withholds(world: World, page: Any, make_user: Any) -> None:
    """In headless Chromium: the masked event shows ***, the others say they are withheld."""
    user = make_user("reader", password="pw-Masking-Page-1")
    page.goto(world.url + "/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "pw-Masking-Page-1")
    page.click("button[type=submit]")
    page.wait_for_url("**/clusters/local/")
    page.goto(f"{world.url}/clusters/local/topics/{world.topic}/messages/?limit=50")
    rows = page.locator("#event-rows tr[data-id]")
    assert rows.count() == len(FIXTURES)
    text = page.locator("#event-rows").inner_text()
    assert text.count(WITHHELD) >= sum(f.withheld for f in FIXTURES) and leaks(text) == []
    screenshot(page, "messages-masked-withheld")
