"""The cluster registry: which Kafka clusters the console knows and how to reach them.

Clusters come from the YAML file named by BACKBONE_CLUSTERS_FILE (secrets through
`${ENV_VAR}` interpolation) or, without a file, one cluster `local` at
KAFKA_BOOTSTRAP_SERVERS. Secrets live only in `librdkafka_config()`; `__repr__` and
`public()` never contain them.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
CLUSTER_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_KNOWN_KEYS = {
    "name",
    "bootstrap_servers",
    "security_protocol",
    "sasl_mechanism",
    "sasl_username",
    "sasl_password",
    "ssl_ca_location",
    "schema_registry_url",
    "schema_registry_username",
    "schema_registry_password",
    "read_only",
    "partitioner",
    "masking",
}
PARTITIONERS = ("murmur2", "crc32")


class ClusterConfigError(ValueError):
    """The clusters file or environment does not describe a usable set of clusters."""


@dataclass(frozen=True)
class ClusterConfig:
    name: str
    bootstrap_servers: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_ca_location: str | None = None
    # May carry `user:password@`: never shown as is (public() strips it).
    schema_registry_url: str | None = field(default=None, repr=False)
    schema_registry_username: str | None = None
    schema_registry_password: str | None = field(default=None, repr=False)
    read_only: bool = False
    # The default partitioner of the producers writing to this cluster, when known
    # (murmur2: Java clients; crc32: librdkafka's consistent_random); None: try both.
    partitioner: str | None = None
    # Masked for everyone below admin: JSON field paths (`customer.email`, `items.*.card`)
    # and RE2 patterns applied to text values.
    mask_fields: tuple[str, ...] = ()
    mask_patterns: tuple[str, ...] = ()

    def librdkafka_config(self) -> dict[str, str]:
        """The client settings for librdkafka, secrets included: never log or render this."""
        conf = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            conf["sasl.mechanism"] = self.sasl_mechanism
            conf["sasl.username"] = self.sasl_username or ""
            conf["sasl.password"] = self.sasl_password or ""
        if self.ssl_ca_location:
            conf["ssl.ca.location"] = self.ssl_ca_location
        return conf

    def public(self) -> dict[str, Any]:
        """What a page or API response may show about the cluster."""
        return {
            "name": self.name,
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
            "sasl_mechanism": self.sasl_mechanism,
            "schema_registry_url": without_credentials(self.schema_registry_url),
            "read_only": self.read_only,
            "partitioner": self.partitioner,
            "masking": bool(self.mask_fields or self.mask_patterns),
        }


def without_credentials(url: str | None) -> str | None:
    """The URL without a `user:password@` part."""
    if not url:
        return url
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _interpolate(value: str, where: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ClusterConfigError(f"{where} refers to ${{{name}}}, which is not set in the environment")
        return os.environ[name]

    return _ENV_REF.sub(replace, value)


def _parse_masking(raw: Any, where: str) -> dict[str, tuple[str, ...]]:
    """`masking: {fields: [...], patterns: [...]}` — both lists of strings."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or set(raw) - {"fields", "patterns"}:
        raise ClusterConfigError(f"{where}: masking must be a mapping with `fields` and/or `patterns` lists")
    parsed: dict[str, tuple[str, ...]] = {}
    for key, target in (("fields", "mask_fields"), ("patterns", "mask_patterns")):
        items = raw.get(key) or []
        if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
            raise ClusterConfigError(f"{where}: masking.{key} must be a list of non-empty strings")
        if len(items) > 100 or any(len(i) > 200 for i in items):
            raise ClusterConfigError(f"{where}: masking.{key} takes at most 100 entries of 200 characters")
        parsed[target] = tuple(items)
    for pattern in parsed.get("mask_patterns", ()):
        from backbone_admin.patterns import PatternError, compile_user_pattern

        try:
            compile_user_pattern(pattern, field="masking.patterns")
        except PatternError as exc:
            raise ClusterConfigError(f"{where}: masking.patterns: {exc.message}") from None
    return parsed


def _parse_cluster(raw: Any, index: int) -> ClusterConfig:
    if not isinstance(raw, dict):
        raise ClusterConfigError(f"clusters[{index}] must be a mapping, got {type(raw).__name__}")
    unknown = sorted(set(raw) - _KNOWN_KEYS)
    name = raw.get("name")
    where = f"cluster `{name}`" if name else f"clusters[{index}]"
    if unknown:
        raise ClusterConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "read_only":
            if not isinstance(value, bool):
                raise ClusterConfigError(f"{where}: read_only must be true or false")
            values[key] = value
        elif key == "masking":
            values.update(_parse_masking(value, where))
        elif value is None:
            continue
        else:
            values[key] = _interpolate(str(value), f"{where} {key}")
    if not isinstance(name, str) or not CLUSTER_NAME_RE.match(name):
        raise ClusterConfigError(f"{where}: name must be 1-63 characters of letters, digits, '.', '_' or '-'")
    if not values.get("bootstrap_servers"):
        raise ClusterConfigError(f"{where}: bootstrap_servers is required")
    protocol = values.setdefault("security_protocol", "PLAINTEXT").upper()
    values["security_protocol"] = protocol
    if protocol not in SECURITY_PROTOCOLS:
        raise ClusterConfigError(f"{where}: security_protocol must be one of {', '.join(SECURITY_PROTOCOLS)}")
    mechanism = values.get("sasl_mechanism")
    if protocol.startswith("SASL_"):
        if not mechanism:
            raise ClusterConfigError(f"{where}: {protocol} needs sasl_mechanism")
        mechanism = values["sasl_mechanism"] = mechanism.upper()
        if mechanism not in SASL_MECHANISMS:
            raise ClusterConfigError(f"{where}: sasl_mechanism must be one of {', '.join(SASL_MECHANISMS)}")
        if not values.get("sasl_username") or not values.get("sasl_password"):
            raise ClusterConfigError(f"{where}: {protocol} needs sasl_username and sasl_password")
    elif mechanism:
        raise ClusterConfigError(f"{where}: sasl_mechanism is set but security_protocol is {protocol}")
    registry = values.get("schema_registry_url")
    if registry and not registry.lower().startswith(("http://", "https://")):
        raise ClusterConfigError(f"{where}: schema_registry_url must be an http:// or https:// URL")
    partitioner = values.get("partitioner")
    if partitioner is not None and partitioner not in PARTITIONERS:
        raise ClusterConfigError(f"{where}: partitioner must be one of {', '.join(PARTITIONERS)}")
    ca = values.get("ssl_ca_location")
    if ca and not Path(ca).is_file():
        raise ClusterConfigError(f"{where}: ssl_ca_location {ca} is not a readable file")
    return ClusterConfig(**values)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """What is wrong and where, without the excerpt of the file YAML quotes: that line may hold a password."""
    problem = str(getattr(exc, "problem", None) or getattr(exc, "context", None) or "syntax error")
    problem = re.sub(r"'(?!<)[^']*'|\"[^\"]*\"", "'…'", problem)  # a quoted value may be part of a secret
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else problem


def parse_clusters_yaml(text: str, source: str = "clusters file") -> dict[str, ClusterConfig]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # `from None`: a logged traceback would print the YAML error, excerpt of the file included.
        raise ClusterConfigError(f"{source} is not valid YAML: {_yaml_problem(exc)}") from None
    if not isinstance(data, dict) or not isinstance(data.get("clusters"), list) or not data["clusters"]:
        raise ClusterConfigError(f"{source} must have a non-empty `clusters:` list")
    clusters: dict[str, ClusterConfig] = {}
    for index, raw in enumerate(data["clusters"]):
        cluster = _parse_cluster(raw, index)
        if cluster.name in clusters:
            raise ClusterConfigError(f"{source}: cluster `{cluster.name}` is defined twice")
        clusters[cluster.name] = cluster
    return clusters


def load_clusters() -> dict[str, ClusterConfig]:
    """Read the clusters from settings; raise ClusterConfigError with a readable reason."""
    path = settings.BACKBONE_CLUSTERS_FILE
    if path:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ClusterConfigError(f"BACKBONE_CLUSTERS_FILE {path} cannot be read: {exc.strerror}") from exc
        clusters = parse_clusters_yaml(text, source=f"BACKBONE_CLUSTERS_FILE {path}")
    else:
        clusters = {"local": ClusterConfig(name="local", bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS)}
    return clusters


@lru_cache(maxsize=1)
def _cached() -> dict[str, ClusterConfig]:
    return load_clusters()


def all_clusters() -> list[ClusterConfig]:
    return list(_cached().values())


def get_cluster(name: str) -> ClusterConfig | None:
    return _cached().get(name)


def default_cluster_name() -> str:
    clusters = _cached()
    if settings.DEFAULT_CLUSTER in clusters:
        return settings.DEFAULT_CLUSTER
    return next(iter(clusters))


def reset_cache() -> None:
    _cached.cache_clear()
