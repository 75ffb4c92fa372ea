from django.urls import path

from backbone_admin.security import api

urlpatterns = [
    path("clusters/<str:cluster>/acls/", api.acls, name="api-acls"),
    path("clusters/<str:cluster>/acls/delete/", api.acls_delete, name="api-acls-delete"),
    path("clusters/<str:cluster>/scram-users/", api.scram_users, name="api-scram-users"),
    path("clusters/<str:cluster>/scram-users/<str:user>/", api.scram_user, name="api-scram-user"),
]
