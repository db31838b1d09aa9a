#!/bin/sh
# Backs up a portal run with deploy/compose.yaml: the PostgreSQL database, then the blob store
# (DH_DATA_DIR/blobs in the portal-data volume), into DEST/<UTC time>/. Run from anywhere, as a user allowed
# to use Docker:
#
#   deploy/backup.sh /var/backups/decentrahealth
#
# Order matters: a blob is stored before the database row that names it and blobs are never changed or removed
# (content-addressed), so blobs copied after the dump include every blob the dump refers to.
# Environment: DH_ENV_FILE (default .env), DH_COMPOSE_FILES (default "deploy/compose.yaml"; production adds
# "deploy/compose.production.yaml"), paths relative to the repository root. docs/DEPLOY.md, "Backups".
set -eu

dest=${1:?usage: deploy/backup.sh DEST_DIR}
cd "$(dirname "$0")/.."
set -- --env-file "${DH_ENV_FILE:-.env}"
for file in ${DH_COMPOSE_FILES:-deploy/compose.yaml}; do
  set -- "$@" -f "$file"
done

stamp=$(date -u +%Y%m%dT%H%M%SZ)
target="$dest/$stamp"
umask 077
mkdir -p "$target"

# 1. PostgreSQL, custom format (pg_restore), from the running postgres service.
docker compose "$@" exec -T postgres sh -c 'exec pg_dump -U "$POSTGRES_USER" -d "$POSTGRES_DB" -Fc' \
  >"$target/postgres.dump"

# 2. The blob store, as the portal's user (the blobs are its files), streamed out of a one-off container;
#    unfinished uploads (.upload-*) are left out.
docker compose "$@" run --rm --no-deps -T --entrypoint tar portal \
  -C /var/lib/decentrahealth/data --exclude "./blobs/.upload-*" -cf - ./blobs >"$target/blobs.tar"

# 3. What was written, for the restore drill.
(cd "$target" && sha256sum postgres.dump blobs.tar >SHA256SUMS)
echo "backup in $target: $(du -sh "$target" | cut -f1)"
