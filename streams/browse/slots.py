"""The search threads of a web process, shared fairly between users.

A search (streams.browse.consumers) runs in one of SEARCH_THREADS threads for up to its time
budget. Handed to a plain thread pool, one user's many sockets took every thread and everyone
else waited behind them (20 searches of 40 s: another user's 0.2 s search took 37.8 s). Here:

- a user runs at most SEARCH_MAX_PER_USER searches at once; more wait, and are told so;
- when a thread is free, the next search to start is the oldest waiting one of the user with
  the fewest searches running (ties: whoever waits longest), so a user with one search never
  waits behind another user's queue;
- a search cancelled while it waits (a new search on its socket, cancel, the socket closed)
  is dropped from the queue, never started.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

log = logging.getLogger("backbone.search")


@dataclass
class Ticket:
    """One search handed to the pool: `position` > 0 while it waits (1: next of its kind to start)."""

    owner: Hashable
    run: Callable[[], None]
    cancel: threading.Event
    order: int
    waiting_for: str = ""  # why it waits: "user" (its owner's cap) or "threads" (all busy)
    position: int = 0
    started: bool = False


class FairPool:
    def __init__(self, threads: int, per_user: int) -> None:
        self.threads = threads
        self.per_user = per_user
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="search")
        self._lock = threading.Lock()
        self._running: dict[Hashable, int] = {}
        self._waiting: list[Ticket] = []
        self._order = itertools.count()

    @property
    def running(self) -> int:
        return sum(self._running.values())

    def submit(self, owner: Hashable, run: Callable[[], None], cancel: threading.Event) -> Ticket:
        """Start `run` now, or queue it; the ticket says which (`position`, `waiting_for`)."""
        ticket = Ticket(owner=owner, run=run, cancel=cancel, order=next(self._order))
        with self._lock:
            self._waiting.append(ticket)
            self._dispatch()
            if not ticket.started:
                ticket.waiting_for = "user" if self._running.get(owner, 0) >= self.per_user else "threads"
                ticket.position = self._position(ticket)
        return ticket

    # -- under the lock ------------------------------------------------------------------------

    def _position(self, ticket: Ticket) -> int:
        """How many searches start before this one, itself included, if nothing else arrives:
        its owner's that wait ahead of it, and (when the threads are what it waits for) the
        other users' that would be picked first."""
        mine = [t for t in self._waiting if t.owner == ticket.owner and t.order <= ticket.order]
        if ticket.waiting_for == "user":
            return len(mine)
        ahead = [t for t in self._waiting if t.owner != ticket.owner and self._before(t, ticket)]
        return len(mine) + len(ahead)

    def _before(self, a: Ticket, b: Ticket) -> bool:
        running = self._running
        return (running.get(a.owner, 0), a.order) < (running.get(b.owner, 0), b.order)

    def _dispatch(self) -> None:
        self._waiting = [t for t in self._waiting if not t.cancel.is_set()]
        while self.running < self.threads:
            eligible = [t for t in self._waiting if self._running.get(t.owner, 0) < self.per_user]
            if not eligible:
                return
            ticket = min(eligible, key=lambda t: (self._running.get(t.owner, 0), t.order))
            self._waiting.remove(ticket)
            self._running[ticket.owner] = self._running.get(ticket.owner, 0) + 1
            ticket.started, ticket.position = True, 0
            self._executor.submit(self._run, ticket)

    def _run(self, ticket: Ticket) -> None:
        try:
            if not ticket.cancel.is_set():
                ticket.run()
        except Exception:  # the search reports its own errors; this only keeps the pool going
            log.exception("a search failed outside its own error handling")
        finally:
            with self._lock:
                left = self._running.get(ticket.owner, 0) - 1
                if left > 0:
                    self._running[ticket.owner] = left
                else:
                    self._running.pop(ticket.owner, None)
                self._dispatch()

    def wake(self) -> None:
        """Drop cancelled searches from the queue (and start others if threads are free)."""
        with self._lock:
            self._dispatch()


_pool: FairPool | None = None
_pool_lock = threading.Lock()


def search_pool() -> FairPool:
    """The process's pool, sized by SEARCH_THREADS and SEARCH_MAX_PER_USER when first used."""
    global _pool
    if _pool is None:
        from django.conf import settings

        with _pool_lock:
            if _pool is None:
                _pool = FairPool(int(settings.SEARCH_THREADS), int(settings.SEARCH_MAX_PER_USER))
    return _pool


def queued_message(ticket: Ticket) -> dict[str, object]:
    """What the page is told of a search that waits: its place and why."""
    pool = search_pool()
    if ticket.waiting_for == "user":
        reason = (
            f"you have {pool.per_user} searches running, at most {pool.per_user} per user: this one starts "
            "when one of yours ends (or cancel one)"
        )
    else:
        reason = f"all {pool.threads} search threads of this server are busy: this one starts when one is free"
    return {"position": ticket.position, "reason": reason, "limit": pool.per_user}
