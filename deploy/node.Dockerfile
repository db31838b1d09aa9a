# syntax=docker/dockerfile:1
# A hospital's node (dh-node): trains on the hospital's own data, encrypts its update, proves its training
# with snarkjs and uploads through the portal's REST API. Build from the repository root:
#
#   docker build -f deploy/node.Dockerfile -t decentrahealth/node .
#
# It installs requirements/node.txt only: no Django, Celery or Redis client (the build checks it). It holds no
# data and no key: the hospital's data is mounted read-only at run time, and the node's home (its
# configuration, token, signing and chain keys, caches) is a volume of its own (docs/DEPLOY.md).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:22-bookworm-slim

# --- snarkjs (the prover) and the circomlib files it needs, from package.json's lockfile.
FROM ${NODE_IMAGE} AS nodetools
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/var/lib/decentrahealth \
    DH_NODE_HOME=/var/lib/decentrahealth/node \
    DH_CACHE_DIR=/var/lib/decentrahealth/cache

# Node.js 20.19+ for snarkjs: the binary of the same Debian release.
COPY --from=nodetools /usr/local/bin/node /usr/local/bin/node

RUN groupadd --system --gid 10001 dh \
 && useradd --system --uid 10001 --gid dh --home-dir /var/lib/decentrahealth --shell /usr/sbin/nologin dh \
 && mkdir -p /var/lib/decentrahealth/node /var/lib/decentrahealth/cache /data \
 && chown -R dh:dh /var/lib/decentrahealth

WORKDIR /app
COPY requirements/node.txt ./requirements/node.txt
COPY requirements/locks/node.txt ./requirements/locks/node.txt
# torch from PyTorch's CPU index (the default PyPI wheel for Linux brings CUDA: several GB). The version is
# the one requirements/node.txt pins; "2.x.y+cpu" satisfies its "torch==2.x.y", so the second install keeps
# it. A hospital with an NVIDIA GPU may build with the CUDA index instead (--build-arg TORCH_INDEX=...).
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN pip install "$(grep -E '^torch==' requirements/node.txt)" --index-url "${TORCH_INDEX}" \
 && pip install --require-hashes -r requirements/locks/node.txt

COPY --from=nodetools /app/node_modules ./node_modules
COPY . .
# Editable, so that the package stays in /app beside node_modules/ and circuits/, which crypto/zk finds next
# to the source tree; --no-deps: the requirements above are all it may have.
RUN pip install --no-deps -e . \
 && ! python -c "import django" 2>/dev/null \
 && ! python -c "import celery" 2>/dev/null \
 && ! python -c "import redis" 2>/dev/null \
 && node --version \
 && dh-node --help >/dev/null

USER dh
ENTRYPOINT ["/bin/sh", "/app/deploy/docker-entrypoint.sh"]
CMD ["dh-node", "run"]
