"""What every paged, cached listing shows about itself: page counts and the age of its data."""

from __future__ import annotations

import time


class PageInfo:
    """Mixed into a listing's page dataclass, which provides these four fields."""

    count: int
    page: int
    page_size: int
    fetched_at: float

    @property
    def pages(self) -> int:
        return max(1, -(-self.count // self.page_size))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def age_s(self) -> int:
        return max(0, int(time.time() - self.fetched_at))
