from django.urls import path

from streams.browse import views

urlpatterns = [
    path("clusters/<str:cluster>/topics/<topic:topic>/messages/", views.messages, name="messages"),
    path("clusters/<str:cluster>/topics/<topic:topic>/messages/event/", views.event_detail, name="event"),
    path(
        "clusters/<str:cluster>/topics/<topic:topic>/messages/event/download/",
        views.event_download,
        name="event_download",
    ),
    path("clusters/<str:cluster>/key-timeline/", views.key_timeline, name="key_timeline"),
]
