"""Who may scrape `/metrics`: the bearer token METRICS_TOKEN, or an address in METRICS_ALLOWED_NETWORKS."""

from __future__ import annotations

import hmac
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network

from django.conf import settings
from django.http import HttpRequest

Network = IPv4Network | IPv6Network


def parse_networks(values: list[str] | tuple[str, ...]) -> tuple[Network, ...]:
    """CIDRs (`10.0.0.0/8`, `::1/128`; a bare address is one host); ValueError names the bad one."""
    networks: list[Network] = []
    for value in values:
        value = value.strip()
        if not value:
            continue
        try:
            networks.append(ip_network(value, strict=False))
        except ValueError as exc:
            raise ValueError(f"METRICS_ALLOWED_NETWORKS: {value!r} is not an address or CIDR network") from exc
    return tuple(networks)


@lru_cache(maxsize=4)
def _networks(values: tuple[str, ...]) -> tuple[Network, ...]:
    return parse_networks(values)


def token_matches(request: HttpRequest) -> bool:
    expected = str(settings.METRICS_TOKEN or "")
    if not expected:
        return False
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return False
    # Constant time: the answer must not tell how many leading characters were right.
    return hmac.compare_digest(given.strip().encode(), expected.encode())


def address_allowed(request: HttpRequest) -> bool:
    # REMOTE_ADDR only, never X-Forwarded-For read here (any client can send one): behind a proxy
    # (BEHIND_PROXY=1) the image's Daphne runs with --proxy-headers and puts the proxy's
    # X-Forwarded-For client there itself, as it does for the audit log's addresses.
    try:
        address = ip_address(str(request.META.get("REMOTE_ADDR") or "").split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:10.1.2.3 from a dual-stack socket
    candidates = [address] if mapped is None else [address, mapped]
    networks = _networks(tuple(settings.METRICS_ALLOWED_NETWORKS))
    return any(a.version == n.version and a in n for a in candidates for n in networks)


def scrape_allowed(request: HttpRequest) -> bool:
    return token_matches(request) or address_allowed(request)
