from django.urls import path

from streams.jobs import views

urlpatterns = [
    path("jobs/", views.job_list, name="jobs"),
    path("jobs/<int:job_id>/", views.job_detail, name="job"),
    path("jobs/<int:job_id>/cancel/", views.job_cancel, name="job_cancel"),
    path("jobs/<int:job_id>/retry/", views.job_retry, name="job_retry"),
    path("clusters/<str:cluster>/topics/<topic:topic>/replay/", views.replay_start, name="job_replay"),
    path("clusters/<str:cluster>/topics/<topic:topic>/export/", views.export_start, name="job_export"),
]
