from django.urls import URLPattern

app_name = "streams"

# Message browser, live tail and jobs pages land here (later issues).
urlpatterns: list[URLPattern] = []
