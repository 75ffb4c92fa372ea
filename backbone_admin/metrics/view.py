from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client.exposition import choose_encoder

from backbone_admin.errors import denied
from backbone_admin.metrics.access import scrape_allowed
from backbone_admin.metrics.collector import scrape_registry

REFUSED = "403 Forbidden: send the metrics bearer token, or scrape from an allowed network.\n"


@login_not_required
@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text exposition (or OpenMetrics, when the scraper asks for it); no login: a token or an address."""
    if not scrape_allowed(request):
        # The same short text whatever was wrong: neither the caller's address nor the allowed ones.
        refused = HttpResponse(REFUSED, status=403, content_type="text/plain; charset=utf-8")
        return denied(refused, "metrics: no valid bearer token, and the address is not in METRICS_ALLOWED_NETWORKS")
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encoder(scrape_registry()), content_type=content_type)
