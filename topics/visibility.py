"""What one user sees of a cluster's topics: the name filter every list applies.

Lists filter by name BEFORE any per-topic work (paging, sorting by messages, enrichment),
with one RE2 union per role (`Access.topic_roles`), never a query per topic. Figures are
recomputed over the visible topics in `topics.figures`.

    keep = topic_filter(request.user, "local")   # None: every topic is visible
    names = [n for n in names if keep is None or keep(n)]
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, TypeVar

from backbone_admin.access import access_for

NameFilter = Callable[[str], bool]
Row = TypeVar("Row", bound=Sequence[Any])

# Matching 10,000 names costs ~60 ms (one RE2 call each); the answer only changes with the index
# or the rules, so it is kept per (cluster, index version, rules) for every user who shares them.
MEMO_SIZE = 256
_memo: OrderedDict[Hashable, list[Any]] = OrderedDict()
_memo_lock = threading.Lock()


def sees_all_topics(user: Any, cluster: str) -> bool:
    return access_for(user).all_topics_visible(cluster)


def topic_filter(user: Any, cluster: str) -> NameFilter | None:
    """A fast `name -> visible?`, or None when the user sees every topic of the cluster."""
    if user is None:  # internal callers (beat tasks, commands) see everything
        return None
    access = access_for(user)
    if access.all_topics_visible(cluster):
        return None
    role_of = access.topic_roles(cluster)
    return lambda name: role_of(name) is not None


def visible_names(user: Any, cluster: str, names: Iterable[str]) -> list[str]:
    keep = topic_filter(user, cluster)
    return list(names) if keep is None else [n for n in names if keep(n)]


def _scope_key(user: Any, cluster: str) -> Hashable:
    """What decides which topics the user sees on the cluster: the same key, the same topics."""
    access = access_for(user)
    rules = sorted({(r.role, r.topics) for r in access.scoped_rules(cluster) if r.topics})
    return (access.cluster_role(cluster), tuple(rules))


def visible_rows(user: Any, cluster: str, version: Hashable, rows: Sequence[Row]) -> list[Row]:
    """The rows (name first) the user may see, in order; `version` names this exact `rows`
    (the index's fetch time), so the match is done once per index for each set of rules."""
    keep = topic_filter(user, cluster)
    if keep is None:
        return list(rows)
    key = (cluster, version, len(rows), _scope_key(user, cluster))
    with _memo_lock:
        found = _memo.get(key)
        if found is not None:
            _memo.move_to_end(key)
            return found
    found = [r for r in rows if keep(r[0])]
    with _memo_lock:
        _memo[key] = found
        while len(_memo) > MEMO_SIZE:
            _memo.popitem(last=False)
    return found
