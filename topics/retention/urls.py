from django.urls import path

from topics.retention import views

urlpatterns = [
    path("retention/", views.policy_list, name="policies"),
    path("retention/new/", views.policy_create, name="policy_create"),
    path("retention/<slug:name>/", views.policy_edit, name="policy_edit"),
    path("clusters/<str:cluster>/retention/", views.compliance, name="compliance"),
]
