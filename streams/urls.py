from django.urls import include, path

import topics.converters  # noqa: F401 - registers the <topic:...> converter used below

app_name = "streams"

# Each capability keeps its own routes; the names live in the `streams` namespace.
urlpatterns = [
    path("", include("streams.browse.urls")),
    path("", include("streams.produce.urls")),
    path("", include("streams.tail.urls")),
    path("", include("streams.jobs.urls")),
]
