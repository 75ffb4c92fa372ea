"""What a process's tails tell the other web processes, and hear from them (through Redis, in
`backbone_admin.broadcast`): which consumers it has open, and which topics are being deleted.

While the hub has open tails, one thread renews their heartbeats every TAIL_BEAT seconds and
listens for deletions in between; a topic announced (or found fenced at a heartbeat) has its
tails here closed with 4404, and the delete waits until their consumers are closed. The thread
ends when the hub has no open tail left, and starts again with the next one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from backbone_admin import broadcast

log = logging.getLogger("backbone.tail")

# The thread listens in slices of a heartbeat, so that it ends soon after the last tail closed.
LISTEN_SLICES = 5

# (member, cluster, topic) of every tail whose consumer is open or about to be; called under the hub's lock.
Snapshot = Callable[[], list[tuple[str, str, str]]]


class TailControl:
    """The heartbeat of one hub's tails, and its ear for topic deletions."""

    def __init__(self, hub_lock: threading.Lock, snapshot: Snapshot, deleting: Callable[[str, str], None]) -> None:
        self.hub_lock = hub_lock
        self.snapshot = snapshot
        self.deleting = deleting
        # Held while a heartbeat is sent and while a closed tail is forgotten (taken before the
        # hub's lock): a heartbeat sent just after a tail was forgotten would register it again,
        # and hold a delete up for TAIL_TTL.
        self.registry = threading.Lock()
        self._thread: threading.Thread | None = None

    def ensure_running(self) -> None:
        """Start the thread unless it runs (called under the hub's lock)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="tail control", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        deletions = broadcast.TailDeletions()
        try:
            while True:
                try:
                    with self.registry:
                        with self.hub_lock:
                            tails = self.snapshot()
                            if not tails:
                                self._thread = None
                                return
                        fenced = broadcast.tails_beat(tails)
                    for cluster, topic in sorted(fenced | set(self._listen(deletions))):
                        self.deleting(cluster, topic)
                except Exception:  # the heartbeat must outlive any one failure
                    log.exception("live tails: the heartbeat failed")
                    time.sleep(broadcast.TAIL_BEAT)
        finally:
            deletions.close()

    def _listen(self, deletions: broadcast.TailDeletions) -> list[tuple[str, str]]:
        """Deletions announced until the next heartbeat is due, or until the last tail closed."""
        announced: list[tuple[str, str]] = []
        for _ in range(LISTEN_SLICES):
            announced += deletions.wait(broadcast.TAIL_BEAT / LISTEN_SLICES)
            with self.hub_lock:
                if announced or not self.snapshot():
                    break
        return announced
