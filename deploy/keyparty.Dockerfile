# syntax=docker/dockerfile:1
# A key party of the aggregation committee (dh-keyparty): keeps its own share of the CKKS secret key and takes
# part in the key ceremony and in each threshold decryption with the other parties (MPyC over TLS). Build from
# the repository root:
#
#   docker build -f deploy/keyparty.Dockerfile -t decentrahealth/keyparty .
#
# It installs requirements/keyparty.txt only: no Django, Celery, Redis client, torch or Node.js (the build
# checks it), and Poseidon's constants from circomlibjs' tarball, checked by SHA-256 (scripts/poseidon_constants.py:
# the parties hash each hospital's proven head with them in MPC). Its home (configuration, TLS key and certificate, the key share) is a volume of its own that
# nothing else mounts: the share never leaves it (docs/DEPLOY.md).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/var/lib/decentrahealth \
    DH_KEYPARTY_HOME=/var/lib/decentrahealth/keyparty

RUN groupadd --system --gid 10001 dh \
 && useradd --system --uid 10001 --gid dh --home-dir /var/lib/decentrahealth --shell /usr/sbin/nologin dh \
 && mkdir -p /var/lib/decentrahealth \
 && chown -R dh:dh /var/lib/decentrahealth

WORKDIR /app
COPY requirements/locks/keyparty.txt ./requirements/locks/keyparty.txt
RUN pip install --require-hashes -r requirements/locks/keyparty.txt

COPY . .
# Editable: the package stays in /app (the same layout as the other images); --no-deps: the requirements above
# are all it may have.
RUN pip install --no-deps -e . \
 && python scripts/poseidon_constants.py \
 && ! python -c "import django" 2>/dev/null \
 && ! python -c "import celery" 2>/dev/null \
 && ! python -c "import redis" 2>/dev/null \
 && ! python -c "import torch" 2>/dev/null \
 && dh-keyparty --help >/dev/null

USER dh
# MPyC between the parties (the port of --listen at enrollment; compose uses 11365, MPyC's default base port).
EXPOSE 11365
ENTRYPOINT ["/bin/sh", "/app/deploy/docker-entrypoint.sh"]
CMD ["dh-keyparty", "serve"]
