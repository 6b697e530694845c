#!/usr/bin/env bash
# Installs what Parley's tests need beyond Go, on Debian/Ubuntu, as root. Idempotent: when every
# tool is present it only checks and exits.
#
#   ip (iproute2)  internal/netlab builds network namespaces, veths and a bridge with it
#   gcc            the race detector (go test -race) needs cgo
#   coturn         stun's interop tests run its turnserver and turnutils_stunclient in namespaces
#   nft (nftables) stun's NAT test builds a masquerading router namespace with it
#   sysctl (procps) turns on forwarding inside that router namespace
#   chromium       integration/web_test.go drives the web app in headless Chromium (chromedp)
#   firefox-esr    integration/web_firefox_test.go drives it in headless Firefox (internal/bidi)
#   zsh, fish      cmd/parley/completion_test.go runs `parley completion zsh|fish` in them (bash is assumed)
#
# Add a line to NEEDED (command:package) when a test starts using another tool.
set -euo pipefail

NEEDED=(
  "ip:iproute2"
  "gcc:gcc"
  "turnutils_stunclient:coturn"
  "nft:nftables"
  "sysctl:procps"
  "chromium:chromium"
  "firefox-esr:firefox-esr"
  "zsh:zsh"
  "fish:fish"
  "dig:dnsutils"
  "mdns-scan:mdns-scan"
)
# Python modules the tests import from Debian's /usr/bin/python3 (module:package).
NEEDED_PY=(
  "zeroconf:python3-zeroconf"
)

missing=()
for entry in "${NEEDED[@]}"; do
  cmd=${entry%%:*}
  pkg=${entry#*:}
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
for entry in "${NEEDED_PY[@]}"; do
  mod=${entry%%:*}
  pkg=${entry#*:}
  /usr/bin/python3 -c "import $mod" >/dev/null 2>&1 || missing+=("$pkg")
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
# The coturn package may start its system service (a TURN server on every interface, port
# 3478); the tests start their own turnserver inside namespaces, so stop and disable it.
if [[ " ${missing[*]} " == *" coturn "* ]] && command -v systemctl >/dev/null 2>&1; then
  systemctl disable --now coturn.service >/dev/null 2>&1 || true
fi
echo "install-deps: done"
