from django.urls import include, path

import topics.converters  # noqa: F401 - registers the <topic:...> converter used below

urlpatterns = [
    path("", include("streams.browse.api_urls")),
    path("", include("streams.jobs.api_urls")),
]
