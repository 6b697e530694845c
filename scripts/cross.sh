#!/usr/bin/env bash
# Cross-build parley for every release platform with CGO_ENABLED=0, and run go vet on
# every package (tests included) for each GOOS. Part of scripts/test.sh; quick to run
# alone: bash scripts/cross.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# The release platforms; scripts/release.sh builds the same list.
PLATFORMS=${PLATFORMS:-"linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64"}

start=$SECONDS
for p in $PLATFORMS; do
  echo "-- build $p"
  GOOS=${p%/*} GOARCH=${p#*/} CGO_ENABLED=0 go build -o /dev/null ./cmd/parley
done
for goos in $(printf '%s\n' $PLATFORMS | cut -d/ -f1 | sort -u); do
  [ "$goos" = "$(go env GOOS)" ] && continue # scripts/test.sh vets the host already
  echo "-- vet GOOS=$goos"
  GOOS=$goos CGO_ENABLED=0 go vet ./...
done
echo "cross-builds and vet took $((SECONDS - start)) s"
