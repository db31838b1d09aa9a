#!/bin/sh
# Entry point of the portal, node and key-party images (deploy/*.Dockerfile).
#
# 1. Secrets from files: for each NAME below, NAME_FILE=/run/secrets/... (a compose or Kubernetes secret) sets
#    NAME to the file's content (trailing newlines dropped). The value is never printed.
# 2. A hospital node or key party that is not enrolled yet waits for its enrollment (a one-off
#    `docker compose run --rm <service> dh-node enroll ...`, docs/DEPLOY.md) instead of failing in a restart
#    loop.
# 3. Then the command runs as this process (exec), so it receives SIGTERM itself.
set -eu

for name in DH_SECRET_KEY DH_CHAIN_PRIVATE_KEY DH_CHAIN_RPC_URL DH_METRICS_TOKEN DH_COORDINATOR_PASSWORD \
  DATABASE_URL REDIS_URL; do
  eval "file=\${${name}_FILE:-}"
  if [ -n "$file" ]; then
    if [ ! -r "$file" ]; then
      echo "entrypoint: ${name}_FILE=$file is not a readable file (owner uid $(id -u), mode 0400)" >&2
      exit 1
    fi
    value=$(cat "$file")
    export "$name=$value"
    unset value
  fi
done
unset file name

wait_for_enrollment() {
  # $1: the configuration file enrollment writes last, $2: the command that writes it
  if [ -f "$1" ]; then
    return 0
  fi
  echo "Not enrolled yet: waiting for $1. Enroll with the code the coordinator gave you:" >&2
  echo "  $2" >&2
  while [ ! -f "$1" ]; do
    sleep 10
  done
  echo "Enrolled: starting." >&2
}

case "${1:-} ${2:-}" in
  "dh-node run")
    wait_for_enrollment "${DH_NODE_HOME:-$HOME/.decentrahealth/node}/config.json" \
      "dh-node enroll --portal URL --code CODE --data PATH (docs/DEPLOY.md)"
    ;;
  "dh-keyparty serve")
    wait_for_enrollment "${DH_KEYPARTY_HOME:-$HOME/.decentrahealth/keyparty}/config.json" \
      "dh-keyparty enroll --portal URL --code CODE --listen HOST:PORT --advertise HOST:PORT (docs/DEPLOY.md)"
    ;;
esac

exec "$@"
