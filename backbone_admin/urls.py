from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth.decorators import login_not_required, login_required
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic.base import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from backbone_admin import views
from backbone_admin.api import views as api_views
from backbone_admin.metrics import view as metrics_view
from backbone_admin.sso import views_oidc
from backbone_admin.tokens import api as tokens_api
from backbone_admin.tokens import views as tokens_views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    # Prometheus: no login; a bearer token or an allow-listed address (backbone_admin/metrics/access.py).
    path("metrics", metrics_view.metrics, name="metrics"),
    # Browsers ask for /favicon.ico on their own, logged in or not: send them to the SVG mark.
    path("favicon.ico", login_not_required(RedirectView.as_view(url=static("favicon.svg"))), name="favicon"),
    path("login/", views_oidc.LoginView.as_view(), name="login"),
    path("logout/", views_oidc.logout, name="logout"),
    path("oidc/authenticate/", login_not_required(views_oidc.StartView.as_view()), name="oidc-start"),
    path("oidc/callback/", login_not_required(views_oidc.CallbackView.as_view()), name="oidc-callback"),
    path("audit/", views.audit, name="audit"),
    path("django-admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # A page for people: anonymous visitors are sent to the login page like everywhere else.
    # The split view serves Swagger UI's start-up script as a file (no inline script under the CSP);
    # Swagger UI still needs inline styles and data: icons on this page only.
    path(
        "api/docs/",
        csp_update({"style-src": ["'unsafe-inline'"], "img-src": ["data:"]})(
            login_required(SpectacularSwaggerSplitView.as_view(url_name="api-schema"))
        ),
        name="api-docs",
    ),
    path("api/audit/", api_views.audit_list, name="api-audit"),
    path("tokens/", tokens_views.token_list, name="tokens"),
    path("tokens/create/", tokens_views.token_create, name="token-create"),
    path("tokens/<int:token_id>/revoke/", tokens_views.token_revoke_view, name="token-revoke"),
    path("api/tokens/", tokens_api.token_list, name="api-tokens"),
    path("api/tokens/<int:token_id>/", tokens_api.token_detail, name="api-token"),
    path("", include("backbone_admin.grants.urls")),
    path("api/", include("topics.api_urls")),
    path("api/", include("streams.api_urls")),
    path("api/", include("backbone_admin.security.api_urls")),
    path("", include("topics.urls")),
    path("", include("streams.urls")),
    path("", include("backbone_admin.security.urls")),
]

handler400 = "backbone_admin.errors.bad_request"
handler404 = "backbone_admin.errors.not_found"
handler500 = "backbone_admin.errors.server_error"
