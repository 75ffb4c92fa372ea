from django.urls import path

from topics import views

app_name = "topics"

urlpatterns = [
    path("clusters/", views.clusters, name="clusters"),
    path("clusters/<str:cluster>/", views.overview, name="overview"),
]
