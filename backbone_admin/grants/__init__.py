"""Grants: admins manage who may do what where (page, API, `manage.py permissions`), the
group→role mapping file beside the clusters file, and "explain access"."""
