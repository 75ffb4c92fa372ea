"""Masking of personal data for everyone below admin, per cluster (the clusters file's `masking:`).

    masking:
      fields: [customer.email, "items.*.card"]       # JSON paths; `*` is any key or list index
      patterns: ['\\b\\d{4}-\\d{4}-\\d{4}-\\d{4}\\b']   # RE2, matches replaced in text

A field path's value (whatever it holds: string, number, object) becomes "***"; every
pattern match in text, in JSON string leaves (and object keys) and in header values becomes
"***". JSON and Avro values are masked on their data, then shown re-serialised; binary
(base64) values are shown as they are — there is no text in them to mask. The caller
decides who sees unmasked events (admins) by whether it calls `mask` at all.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any

from backbone_admin.clusters import ClusterConfig
from backbone_admin.patterns import Pattern, compile_user_pattern
from streams.events.decoding import Decoded

MASK = "***"
WILDCARD = "*"


@dataclasses.dataclass(frozen=True)
class Masker:
    paths: tuple[tuple[str, ...], ...]
    patterns: tuple[Pattern, ...]

    def text(self, text: str) -> str:
        for pattern in self.patterns:
            # `_regex` is the compiled RE2 of compile_user_pattern: linear-time substitution.
            text = pattern._regex.sub(MASK, text)
        return text

    def data(self, value: Any) -> Any:
        for path in self.paths:
            value = _mask_path(value, path, 0)
        if self.patterns:
            value = self._leaves(value)
        return value

    def _leaves(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(k): self._leaves(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._leaves(v) for v in value]
        return value

    def apply(self, decoded: Decoded) -> Decoded:
        if decoded.encoding in ("json", "avro"):
            try:
                masked = self.data(decoded.json)
                if masked == decoded.json:
                    return decoded
                text = json.dumps(masked, ensure_ascii=False)
            except RecursionError:  # nested too deep to walk: show nothing rather than something unmasked
                return dataclasses.replace(decoded, text=json.dumps(MASK), json=MASK, masked=True)
            return dataclasses.replace(decoded, text=text, json=masked, masked=True)
        if decoded.encoding == "text" and decoded.text is not None and self.patterns:
            text = self.text(decoded.text)
            if text != decoded.text:
                return dataclasses.replace(decoded, text=text, masked=True)
        return decoded


def _mask_path(node: Any, path: tuple[str, ...], depth: int) -> Any:
    """`node` with the values at `path` replaced by MASK (copied where changed, never mutated)."""
    if depth == len(path):
        return MASK
    segment = path[depth]
    if isinstance(node, dict):
        keys = list(node) if segment == WILDCARD else ([segment] if segment in node else [])
        out = node
        for key in keys:
            new = _mask_path(node[key], path, depth + 1)
            if new is not node[key]:
                if out is node:
                    out = dict(node)
                out[key] = new
        return out
    if isinstance(node, list):
        if segment == WILDCARD:
            indexes: range | list[int] = range(len(node))
        else:
            indexes = [int(segment)] if segment.isdigit() and int(segment) < len(node) else []
        out_list = node
        for index in indexes:
            new = _mask_path(node[index], path, depth + 1)
            if new is not node[index]:
                if out_list is node:
                    out_list = list(node)
                out_list[index] = new
        return out_list
    return node


@functools.lru_cache(maxsize=64)
def masker(fields: tuple[str, ...], patterns: tuple[str, ...]) -> Masker | None:
    """The compiled masking rules (None when there are none)."""
    if not fields and not patterns:
        return None
    paths = tuple(tuple(field.split(".")) for field in fields)
    compiled = tuple(compile_user_pattern(p, field="masking.patterns") for p in patterns)
    return Masker(paths=paths, patterns=compiled)


def masker_for(cluster: ClusterConfig) -> Masker | None:
    return masker(cluster.mask_fields, cluster.mask_patterns)


def mask(decoded: Decoded, cluster: ClusterConfig) -> Decoded:
    """`decoded` with the cluster's masking applied; `masked=True` on it when anything was replaced."""
    rules = masker_for(cluster)
    return decoded if rules is None else rules.apply(decoded)
