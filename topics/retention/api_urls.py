from django.urls import path

from topics.retention import api

urlpatterns = [
    path("retention-policies/", api.policies, name="api-policies"),
    path("retention-policies/<slug:name>/", api.policy, name="api-policy"),
    path("clusters/<str:cluster>/retention/compliance/", api.compliance, name="api-compliance"),
    path("clusters/<str:cluster>/retention/compliance/apply/", api.compliance_apply, name="api-apply"),
]
