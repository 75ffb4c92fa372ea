"""The live tail page, its button on the topic page, and the admins' view of this process's tails."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def topic(kafka_admin: AdminClient, topic_name: str) -> Iterator[str]:
    kafka_admin.create_topics([NewTopic(topic_name, 2, 1)])[topic_name].result(10)
    yield topic_name
    kafka_admin.delete_topics([topic_name])[topic_name].result(10)


def test_a_reader_opens_the_tail_page_with_its_filter_and_rate(client_as: Any, topic: str) -> None:
    url = reverse("streams:tail", kwargs={"cluster": "local", "topic": topic})
    response = client_as("reader").get(url, {"filter": 'payload.status == "DELAYED"', "rate": "20"})
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-ws-path="/ws/clusters/local/topics/{topic}/tail/"' in html
    assert 'value="payload.status == &quot;DELAYED&quot;"' in html
    assert 'id="tail-rate" name="rate" min="1" max="1000" value="20"' in html
    assert "js/tail.js" in html and "<script>" not in html  # no inline script under the CSP
    assert f'data-event-url="/clusters/local/topics/{topic}/messages/event/"' in html
    assert "are masked" not in html  # the cluster masks nothing


def test_a_reader_is_told_when_the_cluster_masks(client_as: Any, topic: str, clusters_file: Any) -> None:
    clusters_file("clusters:\n  - name: local\n    bootstrap_servers: '{LOCAL}'\n    masking: {fields: [email]}\n")
    url = reverse("streams:tail", kwargs={"cluster": "local", "topic": topic})
    assert "are masked" in client_as("reader").get(url).content.decode()
    assert "are masked" not in client_as("admin").get(url).content.decode()


def test_an_admin_is_not_told_about_masking_and_a_bad_rate_falls_back_to_the_default(
    client_as: Any, topic: str, settings: Any
) -> None:
    url = reverse("streams:tail", kwargs={"cluster": "local", "topic": topic})
    response = client_as("admin").get(url, {"rate": "999999"})
    assert response.status_code == 200
    html = response.content.decode()
    assert f'value="{settings.TAIL_DEFAULT_RATE}"' in html
    assert "are masked" not in html


def test_the_viewer_role_may_not_open_the_tail(client_as: Any, topic: str) -> None:
    url = reverse("streams:tail", kwargs={"cluster": "local", "topic": topic})
    response = client_as("viewer").get(url)
    assert response.status_code == 403
    assert "reader role" in response.content.decode()


def test_an_unknown_topic_is_a_404(client_as: Any) -> None:
    url = reverse("streams:tail", kwargs={"cluster": "local", "topic": "no-such-topic-here"})
    response = client_as("reader").get(url)
    assert response.status_code == 404
    assert "does not exist" in response.content.decode()


def test_the_topic_page_offers_the_live_tail_to_readers_only(client_as: Any, topic: str) -> None:
    detail = reverse("topics:detail", kwargs={"cluster": "local", "topic": topic})
    tail = reverse("streams:tail", kwargs={"cluster": "local", "topic": topic})
    assert f'id="live-tail" href="{tail}"' in client_as("reader").get(detail).content.decode()
    viewer_html = client_as("viewer").get(detail).content.decode()
    assert tail not in viewer_html
    assert "it needs the reader role" in viewer_html


def test_the_tail_stats_are_for_global_admins(client_as: Any) -> None:
    url = reverse("streams:tail_stats")
    response = client_as("admin").get(url)
    assert response.status_code == 200
    assert set(response.json()) == {"consumers", "tails"}
    refused = client_as("reader").get(url)
    assert refused.status_code == 403
    assert "admin" in refused.json()["error"]
    assert client_as("admin", cluster="local").get(url).status_code == 403
