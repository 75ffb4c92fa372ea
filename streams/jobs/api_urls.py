from django.urls import path

from streams.jobs import api

urlpatterns = [
    path("jobs/", api.jobs, name="api-jobs"),
    path("jobs/<int:job_id>/", api.job, name="api-job"),
    path("jobs/<int:job_id>/cancel/", api.job_cancel, name="api-job-cancel"),
    path("jobs/<int:job_id>/retry/", api.job_retry, name="api-job-retry"),
    path("jobs/<int:job_id>/download/", api.job_download, name="api-job-download"),
]
