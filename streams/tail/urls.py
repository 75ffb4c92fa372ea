from django.urls import path

from streams.tail import views

urlpatterns = [
    path("clusters/<str:cluster>/topics/<topic:topic>/tail/", views.tail, name="tail"),
    path("tail/stats/", views.tail_stats, name="tail_stats"),
]
