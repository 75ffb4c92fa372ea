import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backbone_admin.settings")

app = Celery("backbone_admin")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_finalize.connect
def schedule(sender: Celery, **kwargs: object) -> None:
    from django.conf import settings

    sender.add_periodic_task(settings.CLUSTER_HEALTH_INTERVAL, sender.signature("backbone_admin.tasks.check_clusters"))
    sender.add_periodic_task(settings.RETENTION_DRIFT_INTERVAL, sender.signature("topics.tasks.check_retention_drift"))
    sender.add_periodic_task(settings.EXPORT_EXPIRY_INTERVAL, sender.signature("streams.jobs.tasks.expire_exports"))
    sender.add_periodic_task(settings.LAG_SAMPLE_INTERVAL, sender.signature("topics.groups.tasks.sample_lag"))
    sender.add_periodic_task(settings.THROUGHPUT_SAMPLE_INTERVAL, sender.signature("topics.tasks.sample_throughput"))
