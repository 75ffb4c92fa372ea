from django.urls import path

from backbone_admin.grants import api, views

urlpatterns = [
    path("access/grants/", views.grant_list, name="access-grants"),
    path("access/grants/new/", views.grant_create, name="access-grant-create"),
    path("access/grants/<int:grant_id>/", views.grant_edit, name="access-grant-edit"),
    path("access/explain/", views.explain, name="access-explain"),
    path("access/me/", views.my_access_page, name="access-me"),
    path("api/access/grants/", api.grants, name="api-access-grants"),
    path("api/access/grants/<int:grant_id>/", api.grant, name="api-access-grant"),
    path("api/access/explain/", api.explain, name="api-access-explain"),
    path("api/access/me/", api.me, name="api-access-me"),
]
