"""Broker config values in human units: parsed and checked by the type Kafka reports, shown as a person reads them."""

from __future__ import annotations

import math

from backbone_admin.kafka import InvalidRequest
from backbone_admin.kafka.brokers import BrokerConfig
from topics.units import (
    MAX_LONG,
    MAX_NUMBER_LENGTH,
    check_length,
    format_duration_ms,
    format_size_bytes,
    parse_duration_ms,
    parse_size_bytes,
)

MAX_INT = 2**31 - 1
MAX_TEXT_LENGTH = 4096  # listener lists, class names, SASL configs: all far shorter
HIDDEN = "hidden"


def unit_of(name: str) -> str:
    """Kafka names its durations `*.ms` and its sizes `*.bytes`; other numbers have no unit."""
    if name.endswith(".ms"):
        return "ms"
    if name.endswith(".bytes"):
        return "bytes"
    return ""


def human(config: BrokerConfig | None, value: str | None, *, name: str = "") -> str:
    """A value as a person reads it: `7 d`, `1 MiB`; sensitive values never shown."""
    if config is not None and config.sensitive:
        return HIDDEN
    if value is None:
        return "—"
    unit = unit_of(config.name if config else name)
    try:
        if unit == "ms" and value.lstrip("-").isdigit():
            return format_duration_ms(value)
        if unit == "bytes" and value.lstrip("-").isdigit():
            return format_size_bytes(value)
    except ValueError:
        return value
    return value


def parse(config: BrokerConfig, raw: object) -> str:
    """Kafka's string for a user's value (human units accepted for `.ms` and `.bytes`); raises InvalidRequest."""
    name = config.name
    text = str(raw).strip()
    if text == "":
        raise InvalidRequest(f"{name} needs a value")
    kind = config.type
    if kind in ("int", "long"):
        check_length(text, MAX_NUMBER_LENGTH)
        unit = unit_of(name)
        try:
            if unit == "ms":
                number = parse_duration_ms(text)
            elif unit == "bytes":
                number = parse_size_bytes(text)
            else:
                number = int(text)
        except InvalidRequest as exc:
            raise InvalidRequest(f"{name}: {exc.message}") from None
        except ValueError:
            raise InvalidRequest(f"{name} must be a whole number, not `{text}`") from None
        if number > (MAX_INT if kind == "int" else MAX_LONG) or number < -(MAX_INT if kind == "int" else MAX_LONG):
            raise InvalidRequest(f"{name}: `{text}` is out of range for a {kind}")
        return str(number)
    if kind == "double":
        check_length(text, MAX_NUMBER_LENGTH)
        try:
            number_f = float(text)
        except ValueError:
            raise InvalidRequest(f"{name} must be a number, not `{text}`") from None
        if not math.isfinite(number_f):
            raise InvalidRequest(f"{name} must be a finite number, not `{text}`")
        return repr(number_f)
    if kind == "boolean":
        if text.lower() not in ("true", "false"):
            raise InvalidRequest(f"{name} must be true or false, not `{text[:40]}`")
        return text.lower()
    if len(text) > MAX_TEXT_LENGTH:
        raise InvalidRequest(f"{name}: value longer than {MAX_TEXT_LENGTH:,} characters ({len(text):,})")
    return text


def editable(config: BrokerConfig) -> str:
    """Why the console will not change this config, or "" when it will."""
    if config.sensitive:
        return "sensitive: its value would pass through the console; set it with kafka-configs.sh"
    if config.read_only:
        return "not dynamically updatable: set it in server.properties and restart the broker"
    return ""
