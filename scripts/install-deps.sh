#!/usr/bin/env bash
# Installs what Parley's tests need beyond Go, on Debian/Ubuntu, as root. Idempotent: when every
# tool is present it only checks and exits.
#
#   ip (iproute2)  internal/netlab builds network namespaces, veths and a bridge with it
#   gcc            the race detector (go test -race) needs cgo
#
# Add a line to NEEDED (command:package) when a test starts using another tool.
set -euo pipefail

NEEDED=(
  "ip:iproute2"
  "gcc:gcc"
)

missing=()
for entry in "${NEEDED[@]}"; do
  cmd=${entry%%:*}
  pkg=${entry#*:}
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: everything present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing ${missing[*]}; run this script as root" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: missing ${missing[*]} and no apt-get; install them with your package manager" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
