# syntax=docker/dockerfile:1
# The coordinator's portal: Django over ASGI (daphne), its Celery worker (queue "portal") and beat, the
# one-off management commands, and in a one-machine trial the local hardhat chain; one image for all of them
# (deploy/compose.yaml sets each service's command). Build from the repository root:
#
#   docker build -f deploy/portal.Dockerfile -t decentrahealth/portal .
#
# What it holds: requirements.txt (Django, Celery, Channels, the Redis and PostgreSQL clients, and the node's
# and key party's libraries the portal uses to check uploads and aggregate), Node.js with the repository's
# node_modules (snarkjs and circom for the proof keys and their verification, solc-js for the contracts,
# hardhat for the local chain) and the built web interface. No data, no secret: those come from volumes and
# environment.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# Node 22 LTS: the Node tools (hardhat, snarkjs, circom2, solc-js) and Vite need 20.19 or later.
ARG NODE_IMAGE=node:22-bookworm-slim

# --- The web interface (frontend/, React + Vite) into /src/frontend/dist: what scripts/build_frontend.py does
# on a cache miss (npm ci, then vite build).
FROM ${NODE_IMAGE} AS frontend
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY frontend/ ./
RUN npm run build && test -f dist/index.html

# --- The Node tools of package.json, from its lockfile.
FROM ${NODE_IMAGE} AS nodetools
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=dhportal.settings \
    HOME=/var/lib/decentrahealth \
    DH_DATA_DIR=/var/lib/decentrahealth/data \
    DH_CACHE_DIR=/var/lib/decentrahealth/cache \
    DH_FRONTEND_DIST=/app/frontend/dist

# The node binary of the same Debian release (glibc, libstdc++ of python:3.11-slim-bookworm).
COPY --from=nodetools /usr/local/bin/node /usr/local/bin/node

# One unprivileged user, the same uid in the three images (10001): volumes and secret files are owned by it.
RUN groupadd --system --gid 10001 dh \
 && useradd --system --uid 10001 --gid dh --home-dir /var/lib/decentrahealth --shell /usr/sbin/nologin dh \
 && mkdir -p /var/lib/decentrahealth/data /var/lib/decentrahealth/cache \
 && chown -R dh:dh /var/lib/decentrahealth

WORKDIR /app
COPY requirements.txt ./
COPY requirements/ ./requirements/
# torch from PyTorch's CPU index first (the default PyPI wheel for Linux brings CUDA, several GB the portal
# never uses); the version requirements/node.txt pins, whose "torch==2.x.y" the "2.x.y+cpu" build satisfies.
RUN pip install "$(grep -E '^torch==' requirements/node.txt)" \
      --index-url https://download.pytorch.org/whl/cpu \
 && pip install --require-hashes -r requirements/locks/portal.txt

COPY --from=nodetools /app/node_modules ./node_modules
# The source (.dockerignore keeps out .git, .venv, node_modules, var/, .env, data files and keys), read-only
# to the app user: everything the portal writes goes to DH_DATA_DIR and DH_CACHE_DIR.
COPY . .
COPY --from=frontend /src/frontend/dist ./frontend/dist
RUN node --version && python -c "import django, celery, daphne, tenseal, torch"

USER dh
EXPOSE 8000
ENTRYPOINT ["/bin/sh", "/app/deploy/docker-entrypoint.sh"]
CMD ["daphne", "--bind", "0.0.0.0", "--port", "8000", "dhportal.asgi:application"]
