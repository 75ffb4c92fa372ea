from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.checks import run_checks

from backbone_admin.clusters import ClusterConfigError, load_clusters, parse_clusters_yaml

GOOD = """
clusters:
  - name: local
    bootstrap_servers: 127.0.0.1:9092
  - name: events-prod
    bootstrap_servers: broker-0.example:9093,broker-1.example:9093
    security_protocol: SASL_SSL
    sasl_mechanism: PLAIN
    sasl_username: token
    sasl_password: ${EVENTS_API_KEY}
    schema_registry_url: https://registry.example
    read_only: true
"""


def test_it_reads_clusters_with_env_interpolated_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTS_API_KEY", "s3cret-key")
    clusters = parse_clusters_yaml(GOOD)
    prod = clusters["events-prod"]
    assert list(clusters) == ["local", "events-prod"]
    assert prod.read_only is True
    assert prod.librdkafka_config()["sasl.password"] == "s3cret-key"
    assert prod.librdkafka_config()["sasl.mechanism"] == "PLAIN"
    assert "s3cret-key" not in repr(prod)
    assert "s3cret-key" not in str(prod.public())
    assert clusters["local"].security_protocol == "PLAINTEXT"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("clusters: [", "not valid YAML"),
        ("clusters: []", "non-empty `clusters:` list"),
        ("nothing: 1", "non-empty `clusters:` list"),
        ("clusters:\n  - name: a\n", "bootstrap_servers is required"),
        ("clusters:\n  - bootstrap_servers: x:1\n", "name must be"),
        ("clusters:\n  - name: 'bad name'\n    bootstrap_servers: x:1\n", "name must be"),
        (
            "clusters:\n  - {name: a, bootstrap_servers: 'x:1'}\n  - {name: a, bootstrap_servers: 'y:1'}\n",
            "defined twice",
        ),
        ("clusters:\n  - {name: a, bootstrap_servers: 'x:1', colour: red}\n", "unknown key(s) colour"),
        ("clusters:\n  - {name: a, bootstrap_servers: 'x:1', security_protocol: TLS}\n", "security_protocol must be"),
        ("clusters:\n  - {name: a, bootstrap_servers: 'x:1', security_protocol: SASL_SSL}\n", "needs sasl_mechanism"),
        (
            "clusters:\n  - {name: a, bootstrap_servers: 'x:1', security_protocol: SASL_SSL, sasl_mechanism: GSSAPI,"
            " sasl_username: u, sasl_password: p}\n",
            "sasl_mechanism must be",
        ),
        (
            "clusters:\n  - {name: a, bootstrap_servers: 'x:1', security_protocol: SASL_SSL,"
            " sasl_mechanism: SCRAM-SHA-512}\n",
            "needs sasl_username and sasl_password",
        ),
        (
            "clusters:\n  - {name: a, bootstrap_servers: 'x:1', sasl_mechanism: PLAIN}\n",
            "security_protocol is PLAINTEXT",
        ),
        ("clusters:\n  - {name: a, bootstrap_servers: 'x:1', read_only: 'yes'}\n", "read_only must be true or false"),
        ("clusters:\n  - {name: a, bootstrap_servers: '${NOT_SET_ANYWHERE_X}'}\n", "${NOT_SET_ANYWHERE_X}"),
        (
            "clusters:\n  - {name: a, bootstrap_servers: 'x:1', ssl_ca_location: /nonexistent/ca.pem}\n",
            "not a readable",
        ),
    ],
)
def test_it_refuses_bad_cluster_files_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(ClusterConfigError) as info:
        parse_clusters_yaml(text)
    assert message in str(info.value)


def test_scram_and_tls_options_reach_librdkafka(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    text = (
        "clusters:\n  - {name: es, bootstrap_servers: 'b:9093', security_protocol: sasl_ssl,"
        f" sasl_mechanism: scram-sha-256, sasl_username: u, sasl_password: p, ssl_ca_location: {ca}}}\n"
    )
    conf = parse_clusters_yaml(text)["es"].librdkafka_config()
    assert conf == {
        "bootstrap.servers": "b:9093",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-256",
        "sasl.username": "u",
        "sasl.password": "p",
        "ssl.ca.location": str(ca),
    }


def test_without_a_file_there_is_one_local_cluster(settings: Any, kafka_bootstrap: str) -> None:
    settings.BACKBONE_CLUSTERS_FILE = ""
    assert [(c.name, c.bootstrap_servers) for c in load_clusters().values()] == [("local", kafka_bootstrap)]


def test_system_check_reports_a_missing_clusters_file(settings: Any) -> None:
    settings.BACKBONE_CLUSTERS_FILE = "/nonexistent/clusters.yml"
    errors = [e for e in run_checks() if e.id == "backbone.E001"]
    assert errors and "cannot be read" in errors[0].msg


def test_system_check_reports_an_unknown_default_cluster(settings: Any) -> None:
    settings.DEFAULT_CLUSTER = "nope"
    assert any(e.id == "backbone.E002" for e in run_checks())


def test_system_check_reports_a_bad_redis_url(settings: Any) -> None:
    settings.REDIS_URL = "http://localhost"
    assert any(e.id == "backbone.E004" for e in run_checks())


def test_masking_and_partitioner_are_read_and_checked() -> None:
    from backbone_admin.clusters import ClusterConfigError, parse_clusters_yaml

    clusters = parse_clusters_yaml(
        "clusters:\n  - name: a\n    bootstrap_servers: 'x:1'\n    partitioner: crc32\n"
        "    masking: {fields: [customer.email], patterns: ['\\d{16}']}\n"
    )
    assert clusters["a"].partitioner == "crc32"
    assert clusters["a"].mask_fields == ("customer.email",)
    assert clusters["a"].mask_patterns == ("\\d{16}",)
    assert clusters["a"].public()["masking"] is True
    for bad, message in [
        ("partitioner: java", "partitioner must be one of"),
        ("masking: [a]", "masking must be a mapping"),
        ("masking: {fields: [1]}", "masking.fields must be a list"),
        ("masking: {patterns: ['(a']}", "masking.patterns"),
    ]:
        try:
            parse_clusters_yaml(f"clusters:\n  - name: a\n    bootstrap_servers: 'x:1'\n    {bad}\n")
        except ClusterConfigError as exc:
            assert message in str(exc)
        else:
            raise AssertionError(f"{bad} was accepted")
