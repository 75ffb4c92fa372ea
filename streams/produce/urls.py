from django.urls import path

from streams.produce import views

urlpatterns = [
    path("clusters/<str:cluster>/topics/<topic:topic>/produce/", views.produce, name="produce"),
]
