"""System checks: bad configuration is reported at start-up, not on the first request."""

from __future__ import annotations

import ssl
from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from backbone_admin.clusters import ClusterConfigError, load_clusters


@register(Tags.compatibility)
def check_clusters(app_configs: Any, **kwargs: Any) -> list[Error | Warning]:
    try:
        clusters = load_clusters()
    except ClusterConfigError as exc:
        return [Error(str(exc), hint="Fix BACKBONE_CLUSTERS_FILE or KAFKA_BOOTSTRAP_SERVERS.", id="backbone.E001")]
    problems: list[Error | Warning] = []
    if settings.DEFAULT_CLUSTER and settings.DEFAULT_CLUSTER not in clusters:
        problems.append(
            Error(
                f"DEFAULT_CLUSTER={settings.DEFAULT_CLUSTER} is not one of the configured clusters "
                f"({', '.join(clusters)})",
                id="backbone.E002",
            )
        )
    if settings.KAFKA_TIMEOUT <= 0 or settings.KAFKA_TIMEOUT > 120:
        problems.append(Error("KAFKA_TIMEOUT must be between 0 and 120 seconds", id="backbone.E003"))
    if not str(settings.REDIS_URL).startswith(("redis://", "rediss://", "unix://")):
        problems.append(Error("REDIS_URL must be a redis://, rediss:// or unix:// URL", id="backbone.E004"))
    for cluster in clusters.values():
        if cluster.ssl_ca_location:
            try:
                ssl.create_default_context(cafile=cluster.ssl_ca_location)
            except (ssl.SSLError, OSError) as exc:
                problems.append(
                    Error(
                        f"cluster `{cluster.name}`: ssl_ca_location {cluster.ssl_ca_location} is not a readable "
                        f"PEM certificate file ({exc})",
                        hint="Point ssl_ca_location at the CA certificate (PEM) that signed the brokers' certificates.",
                        id="backbone.E005",
                    )
                )
        if cluster.security_protocol == "SASL_PLAINTEXT" and cluster.sasl_mechanism == "PLAIN":
            problems.append(
                Warning(
                    f"cluster `{cluster.name}` sends SASL PLAIN credentials without TLS",
                    hint="Use security_protocol: SASL_SSL.",
                    id="backbone.W001",
                )
            )
    return problems


@register(Tags.security)
def check_sign_in(app_configs: Any, **kwargs: Any) -> list[Error]:
    """Local passwords off with no directory to sign in through would lock everyone out."""
    if settings.BACKBONE_LOCAL_LOGIN or settings.OIDC_ISSUER or settings.LDAP_SERVER_URI:
        return []
    return [
        Error(
            "BACKBONE_LOCAL_LOGIN=0 turns local passwords off, but neither OIDC_ISSUER nor LDAP_SERVER_URI is set: "
            "nobody could sign in",
            hint="Configure OIDC or LDAP, or set BACKBONE_LOCAL_LOGIN=1.",
            id="backbone.E006",
        )
    ]
