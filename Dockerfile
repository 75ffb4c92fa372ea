# syntax=docker/dockerfile:1
# Backbone Console: one image for every process. The command picks the role:
#   docker run IMAGE web | worker | beat | migrate | demo | manage <command> ...
# See docker-compose.yml for the whole stack and .env.example for the settings.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: the virtualenv with every requirement, compiled where no wheel exists ---
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

# python-ldap has no binary wheel: it compiles against the OpenLDAP and SASL headers here;
# only the shared libraries reach the final stage.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential libldap2-dev libsasl2-dev \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

COPY requirements.txt /tmp/requirements.txt
RUN pip install --upgrade pip wheel \
    && pip install -r /tmp/requirements.txt

# --- final: the venv, the code and the collected static files, run as a non-root user ---
FROM ${PYTHON_IMAGE}

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=backbone_admin.settings \
    STATIC_ROOT=/app/staticfiles \
    WHITENOISE_USE_FINDERS=0 \
    PORT=8000

# The libraries python-ldap links against (LDAP sign-in).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libldap-2.5-0 libsasl2-2 \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 backbone \
    && useradd --system --uid 10001 --gid backbone --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin backbone

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
# The code stays owned by root (read-only for the app); only var/ is writable.
COPY . /app

# Static files are collected and compressed once, here; the settings need a secret key to
# load, so a throwaway one is given for this step only (it is not kept in the image).
RUN SECRET_KEY=collectstatic-only-not-a-secret HTTPS=1 python manage.py collectstatic --noinput -v 0 \
    && python -m compileall -q /app \
    && chmod 0755 /app/docker/entrypoint.sh \
    && mkdir -p /app/var/exports \
    && chown backbone:backbone /app/var /app/var/exports

USER backbone
EXPOSE 8000

# /healthz answers 200 when the database, Redis and the default cluster answer. A process that
# hangs fails the check too (no answer in 8 s) and the container turns unhealthy; one that exits
# is restarted by the restart policy (docker-compose.yml: unless-stopped). Docker does not
# restart an unhealthy container by itself: an orchestrator (or an autoheal sidecar) does.
# Worker and beat containers have no web server: docker-compose.yml gives them their own check.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["/app/docker/entrypoint.sh", "healthcheck"]

ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["web"]
