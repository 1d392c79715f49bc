#!/usr/bin/env bash
# Builds the image and runs it for real next to a PostgreSQL container, the way a deployment
# does: a user-defined network, the URL from a mounted secret file (DATABASE_URL_FILE), the
# image's non-root user, a read-only root filesystem. Checks migrate, a one-shot run that
# activates a due package, a one-shot run stopped by SIGTERM mid-tick (finished, not
# half-applied) and an --every 1 container ended by `docker stop` (exit 0, after its tick).
# Needs a Docker engine (DOCKER_HOST); fails loudly without one. Prints what it did.
set -euo pipefail
cd "$(dirname "$0")/.."

image=${SMOKE_IMAGE:-package-scheduler:smoke}
pg_image=${SMOKE_POSTGRES_IMAGE:-postgres:17}
id=ps-smoke-$$
net=$id-net
db=$id-db
secrets=$(mktemp -d)
started=$(date +%s)
say() { echo "[container-smoke] $*"; }
fail() { say "FAILED: $*"; exit 1; }
cleanup() {
  docker rm -f -v "$db" "$id-every" "$id-slow" >/dev/null 2>&1 || true
  docker network rm "$net" >/dev/null 2>&1 || true
  rm -rf "$secrets"
}
trap cleanup EXIT

docker info >/dev/null 2>&1 || fail "no Docker engine answers (DOCKER_HOST=${DOCKER_HOST:-unset})"

say "building $image (--network host: the build runs npm ci)"
t=$(date +%s)
DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-0} docker build --network host -q --build-arg VERSION="$(node -p "require('./package.json').version")" -t "$image" . >/dev/null
base=$(sed -n 's/^ARG NODE_IMAGE=//p' Dockerfile)
size=$(docker image inspect -f '{{.Size}}' "$image")
base_size=$(docker image inspect -f '{{.Size}}' "$base")
say "built in $(( $(date +%s) - t )) s: $((size / 1000000)) MB, base $base $((base_size / 1000000)) MB, ratio $(node -p "($size / $base_size).toFixed(2)")"
[ "$(docker image inspect -f '{{.Config.User}}' "$image")" = node ] || fail "the image does not run as the node user"

password=$(node -p "require('crypto').randomBytes(12).toString('hex')")
docker network create "$net" >/dev/null
docker run -d --name "$db" --network "$net" -e POSTGRES_PASSWORD="$password" "$pg_image" >/dev/null
for _ in $(seq 1 120); do
  docker exec "$db" pg_isready -U postgres -h 127.0.0.1 >/dev/null 2>&1 && break
  sleep 0.5
done
docker exec "$db" pg_isready -U postgres -h 127.0.0.1 >/dev/null || fail "$pg_image did not start"
psql() { docker exec -i "$db" psql -U postgres -v ON_ERROR_STOP=1 -qAtX "$@"; }
psql -c "CREATE TABLE special_packages (id serial PRIMARY KEY, name text NOT NULL, is_active boolean NOT NULL DEFAULT false, valid_until date, updated_at timestamptz)"
say "$pg_image up on network $net"

printf 'postgres://postgres:%s@%s:5432/postgres\n' "$password" "$db" > "$secrets/database_url"
chmod 0755 "$secrets"; chmod 0644 "$secrets/database_url"
runner() { # the way a deployment runs it; the caller's docker options, then image and command
  docker run --network "$net" --read-only --user node \
    -v "$secrets:/run/secrets:ro" -e DATABASE_URL_FILE=/run/secrets/database_url -e SCHEDULER_TIMEZONE=Europe/Berlin "$@"
}

out=$(runner --rm "$image" migrate) || fail "migrate exited $?: $out"
grep -q '"event":"migrate.completed"' <<<"$out" || fail "no migrate.completed line"
say "migrate: ok (read-only root filesystem, user node, URL from a secret file)"
grep -q "$password" <<<"$out" && fail "the password appeared in the output"

psql -c "INSERT INTO special_packages (name, scheduled, auto_activate, schedule_date) VALUES ('due', true, true, current_date - 1)"
out=$(runner --rm "$image") || fail "run exited $?: $out"
[ "$(psql -c "SELECT is_active FROM special_packages WHERE name = 'due'")" = t ] || fail "the due package was not activated"
grep -q '"event":"package.activated"' <<<"$out" || fail "no package.activated line"
say "one-shot run (default CMD): activated the due package, exit 0"

# A backlog bigger than the in-memory spool: with --tmpfs /tmp its records go to a file there;
# on the bare read-only root they stay in memory with one warning. Every change logged either way.
for tmp in with without; do
  psql -c "INSERT INTO special_packages (name, scheduled, auto_activate, schedule_date) SELECT 'backlog ' || g, true, true, current_date - 1 FROM generate_series(1, 20000) g"
  if [ "$tmp" = with ]; then out=$(runner --rm --tmpfs /tmp "$image") || fail "backlog run exited $?"
  else out=$(runner --rm "$image") || fail "backlog run without /tmp exited $?"; fi
  lines=$(grep -c '"event":"package.activated"' <<<"$out")
  [ "$lines" = 20000 ] || fail "backlog run ($tmp /tmp) logged $lines of 20000 activations"
  warned=$(grep -c '"event":"tick.spool_in_memory"' <<<"$out" || true)
  if [ "$tmp" = with ]; then [ "$warned" = 0 ] || fail "spool warning despite --tmpfs /tmp"
  else grep -q '"event":"tick.spool_in_memory".*"code":"EROFS"' <<<"$out" || fail "no EROFS spool warning on a read-only root"; fi
  say "backlog of 20000 ($tmp a writable /tmp): every activation logged, spool warnings: $warned"
done

# SIGTERM mid-tick: three rows, each update held 1 s by a trigger; docker stop sends SIGTERM to
# PID 1, which finishes the tick: all three change together, or (had it been killed) none.
psql <<'SQL'
INSERT INTO special_packages (name, scheduled, auto_activate, schedule_date)
  SELECT 'slow ' || g, true, true, current_date - 1 FROM generate_series(1, 3) g;
CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(1); RETURN NEW; END $$;
CREATE TRIGGER slow BEFORE UPDATE ON special_packages FOR EACH ROW EXECUTE FUNCTION slow();
SQL
runner -d --name "$id-slow" "$image" >/dev/null
for _ in $(seq 1 100); do
  [ "$(psql -c "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '/* package-scheduler:tick %' AND state = 'active'")" = 1 ] && break
  sleep 0.1
done
t=$(date +%s%N)
docker stop -t 20 "$id-slow" >/dev/null
stop_ms=$(( ($(date +%s%N) - t) / 1000000 ))
code=$(docker inspect -f '{{.State.ExitCode}}' "$id-slow")
active=$(psql -c "SELECT count(*) FILTER (WHERE is_active) FROM special_packages WHERE name LIKE 'slow %'")
logs=$(docker logs "$id-slow" 2>&1)
[ "$code" = 0 ] || fail "one-shot container exited $code after docker stop: $logs"
[ "$active" = 3 ] || fail "the stopped tick left $active of 3 packages active"
grep -q '"event":"scheduler.stopping"' <<<"$logs" || fail "no scheduler.stopping line"
say "one-shot run stopped mid-tick: finished its tick (3 of 3 activated), exit 0, docker stop took ${stop_ms} ms"
psql -c "DROP TRIGGER slow ON special_packages"

runner -d --name "$id-every" "$image" run --every 1 >/dev/null
psql -c "INSERT INTO special_packages (name, scheduled, auto_activate, schedule_date) VALUES ('every', true, true, current_date - 1)"
for _ in $(seq 1 100); do
  [ "$(psql -c "SELECT is_active FROM special_packages WHERE name = 'every'")" = t ] && break
  sleep 0.1
done
[ "$(psql -c "SELECT is_active FROM special_packages WHERE name = 'every'")" = t ] || fail "--every did not activate the package"
t=$(date +%s%N)
docker stop -t 20 "$id-every" >/dev/null
stop_ms=$(( ($(date +%s%N) - t) / 1000000 ))
code=$(docker inspect -f '{{.State.ExitCode}}' "$id-every")
logs=$(docker logs "$id-every" 2>&1)
[ "$code" = 0 ] || fail "--every container exited $code after docker stop: $logs"
grep -q '"event":"scheduler.stopped"' <<<"$logs" || fail "no scheduler.stopped line"
[ "$stop_ms" -lt 5000 ] || fail "docker stop took ${stop_ms} ms"
say "--every 1: activated a package, docker stop -> exit 0 in ${stop_ms} ms"

say "passed in $(( $(date +%s) - started )) s"
