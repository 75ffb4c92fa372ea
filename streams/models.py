"""The streams app's models live with their capability; importable from here as Django expects."""

from streams.jobs.models import Job, JobPartition

__all__ = ["Job", "JobPartition"]
