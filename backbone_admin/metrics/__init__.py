"""The Prometheus endpoint `/metrics`: what the beat already measured, served without asking Kafka.

`collector.py` gathers the sources named in settings.METRICS_SOURCES (each app reads its own
tables), `view.py` checks the token or address and renders, `middleware.py` times requests.
"""
