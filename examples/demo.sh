#!/usr/bin/env bash
# make demo: hush's main job on a local example, no external service.
# A throwaway secrets directory stands in for /run/secrets (Docker Compose,
# Swarm) or a Kubernetes secret volume.
set -euo pipefail
hush=$(realpath "${1:-bin/hush}")
secrets=$(mktemp -d)
trap 'rm -rf "$secrets"' EXIT

printf 's3cr3t-db-password\n' >"$secrets/db_password"
printf '{"stripe":{"key":"sk_demo_123"},"port":5432}\n' >"$secrets/app.json"
printf 'demo-api-token\n' >"$secrets/api_token"
chmod 0400 "$secrets"/*

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "The environment holds references, never values:"
cat <<TXT
  DB_PASSWORD=ref+file://$secrets/db_password
  STRIPE_KEY=ref+file://$secrets/app.json#/stripe/key
  DB_PORT=ref+file://$secrets/app.json#/port
  API_TOKEN_FILE=$secrets/api_token            (with --file-env API_TOKEN)
TXT

say "hush -- sh -c '...': the child sees values, hush's own /proc/PID/environ does not"
DB_PASSWORD="ref+file://$secrets/db_password" \
STRIPE_KEY="ref+file://$secrets/app.json#/stripe/key" \
DB_PORT="ref+file://$secrets/app.json#/port" \
API_TOKEN_FILE="$secrets/api_token" \
"$hush" --file-env API_TOKEN -- sh -c '
  echo "  child: DB_PASSWORD=$DB_PASSWORD STRIPE_KEY=$STRIPE_KEY DB_PORT=$DB_PORT API_TOKEN=$API_TOKEN"
  echo "  child: API_TOKEN_FILE is ${API_TOKEN_FILE:-gone}"
  echo "  hush (pid $PPID) environment, as any process that can read /proc sees it:"
  tr "\0" "\n" </proc/$PPID/environ | grep -E "^(DB_|STRIPE|API_)" | sed "s/^/    /"
  if tr "\0" "\n" </proc/$PPID/environ | grep -q -e "$DB_PASSWORD" -e "$STRIPE_KEY"; then
    echo "  LEAK: a value is in hush'"'"'s environment"; exit 1
  fi
  echo "  no value in hush'"'"'s environment"
'

say "hush check: every reference resolved, no value printed"
DB_PASSWORD="ref+file://$secrets/db_password" \
STRIPE_KEY="ref+file://$secrets/app.json#/stripe/key" \
DB_PORT="ref+file://$secrets/app.json#/port" \
API_TOKEN_FILE="$secrets/api_token" \
"$hush" check --file-env API_TOKEN | sed 's/^/  /'

say "A missing secret: the child is not started, hush exits 125 naming the variable"
set +e
DB_PASSWORD="ref+file://$secrets/nope" "$hush" -- echo "this never runs"
echo "  exit status: $?"
set -e

say "Rotation: rewrite the secret file; hush restarts the child with the new value"
chmod 0600 "$secrets/db_password"
out="$secrets/rotation.log"
DB_PASSWORD="ref+file://$secrets/db_password" \
"$hush" --debounce 200ms -- sh -c 'trap "exit 0" TERM; echo "  child $$ started with DB_PASSWORD=$DB_PASSWORD"; while :; do sleep 0.1; done' >"$out" 2>&1 &
hush_pid=$!
wait_for() { for _ in $(seq 1 100); do grep -q "$1" "$out" && return 0; sleep 0.1; done; echo "  (timed out waiting for: $1)"; return 1; }
wait_for "started with DB_PASSWORD=s3cr3t-db-password"
printf 'rotated-password\n' >"$secrets/db_password"
wait_for "started with DB_PASSWORD=rotated-password"
kill -TERM "$hush_pid"; wait "$hush_pid" || true
cat "$out"

say "Exit codes and signals pass through like tini: sh -c 'kill -TERM \$\$' -> 143"
set +e
"$hush" -- sh -c 'kill -TERM $$'
echo "  exit status: $?"
