from django.urls import path

from streams.browse import api

urlpatterns = [
    path("clusters/<str:cluster>/topics/<topic:topic>/messages/", api.messages, name="api-messages"),
]
