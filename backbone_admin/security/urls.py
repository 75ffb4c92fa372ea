from django.urls import path

from backbone_admin.security import views

app_name = "security"

urlpatterns = [
    path("clusters/<str:cluster>/acls/", views.acl_list, name="acls"),
    path("clusters/<str:cluster>/acls/new/", views.acl_new, name="acl_new"),
    path("clusters/<str:cluster>/acls/delete/", views.acl_delete, name="acl_delete"),
    path("clusters/<str:cluster>/users/", views.users, name="users"),
    path("clusters/<str:cluster>/users/delete/", views.user_delete, name="user_delete"),
]
