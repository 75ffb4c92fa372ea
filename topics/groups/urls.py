from django.urls import path

from topics.groups import (
    converters,  # noqa: F401 - registers <group:…>, any group id
    views,
)

# Included from topics/urls.py: the names live in the `topics` namespace.
urlpatterns = [
    path("clusters/<str:cluster>/groups/", views.group_list, name="groups"),
    path("clusters/<str:cluster>/groups/<group:group>/", views.group_detail, name="group"),
    path("clusters/<str:cluster>/groups/<group:group>/rewind/", views.group_rewind, name="group_rewind"),
    path("clusters/<str:cluster>/groups/<group:group>/delete/", views.group_delete, name="group_delete"),
]
