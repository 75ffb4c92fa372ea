"""Sign-in through a company's identity provider: OIDC (oidc.py, views_oidc.py)."""
