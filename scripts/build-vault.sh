#!/usr/bin/env bash
# Builds the HashiCorp Vault server used as a REAL test server by hush's
# Vault tests, once, into a cache outside the repository. Vault is only
# served here as a Go module whose go.mod has local replace directives for
# its nested modules (api, sdk, auth methods); dropping them makes the build
# use the published versions that go.mod already requires. v1.21.1 is the
# newest version that compiles that way. Vault is BUSL-licensed: it is a test
# server here, never shipped.
#
# Prints the binary's path on stdout. Costs on 2 cores: ~18 min cold, ~4.5 min
# with a warm Go build cache, nothing when the binary is cached.
set -euo pipefail
VER=${VAULT_VERSION:-v1.21.1}
CACHE=${HUSH_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hush-test}
OUT="$CACHE/vault-$VER"
if [ -x "$OUT/vault" ] && "$OUT/vault" version >/dev/null 2>&1; then
	echo "$OUT/vault"
	exit 0
fi
mkdir -p "$OUT"
# One build at a time: a second run (another test package's TestMain, a
# second make) waits here for the first, then uses its binary.
exec 9>"$OUT/.lock"
flock 9
if [ -x "$OUT/vault" ] && "$OUT/vault" version >/dev/null 2>&1; then
	echo "$OUT/vault"
	exit 0
fi
export GOFLAGS=-mod=mod
go mod download "github.com/hashicorp/vault@$VER" >&2
SRC="$(go env GOMODCACHE)/github.com/hashicorp/vault@$VER"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cp -r "$SRC/." "$WORK/"
chmod -R u+w "$WORK"
cd "$WORK"
for m in api api/auth/approle api/auth/kubernetes api/auth/userpass sdk; do
	go mod edit -dropreplace="github.com/hashicorp/vault/$m"
done
echo "building Vault $VER into $OUT (minutes; cached afterwards)" >&2
go build -ldflags="-s -w" -o "$OUT/vault.tmp" . >&2
mv "$OUT/vault.tmp" "$OUT/vault"
echo "$OUT/vault"
