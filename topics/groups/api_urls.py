from django.urls import path

from topics.groups import (
    api,
    converters,  # noqa: F401 - registers <group:…>, any group id
)

urlpatterns = [
    path("clusters/<str:cluster>/groups/", api.groups, name="api-groups"),
    path("clusters/<str:cluster>/groups/<group:group>/", api.group, name="api-group"),
    path("clusters/<str:cluster>/groups/<group:group>/reset-offsets/", api.reset_offsets, name="api-group-reset"),
]
