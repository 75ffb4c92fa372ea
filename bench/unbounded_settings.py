"""The console's settings with no bytes bound on a page: the page before issue 14 (bench/big_pages.py)."""

from backbone_admin.settings import *  # noqa: F403

BROWSE_MAX_PAGE_BYTES = 0
