"""Jobs: replays and exports run by Celery workers, with progress, cancel, retry and resume."""
