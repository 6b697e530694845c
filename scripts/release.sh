#!/usr/bin/env bash
# Build the release archives: parley for every platform scripts/cross.sh checks, with
# CGO_ENABLED=0, stripped, reproducible paths (-trimpath), the version from
# `git describe` and the commit baked in (parley --version shows both).
#
#   bash scripts/release.sh            -> dist/parley-<version>-<os>-<arch>.tar.gz (.zip on Windows)
#                                         and dist/SHA256SUMS
#   VERSION=v1.0.0 bash scripts/release.sh
#   PLATFORMS="linux/arm64" bash scripts/release.sh
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=${VERSION:-$(git describe --tags --always --dirty)}
COMMIT=$(git rev-parse HEAD)
PLATFORMS=${PLATFORMS:-"linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64"}
DIST=${DIST:-dist}

rm -rf "$DIST" && mkdir -p "$DIST"
for p in $PLATFORMS; do
  goos=${p%/*} goarch=${p#*/}
  name="parley-$VERSION-$goos-$goarch"
  stage="$DIST/$name"
  exe=parley; [ "$goos" = windows ] && exe=parley.exe
  mkdir -p "$stage"
  echo "-- $name"
  GOOS=$goos GOARCH=$goarch CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X main.releaseVersion=$VERSION -X main.releaseCommit=$COMMIT" \
    -o "$stage/$exe" ./cmd/parley
  cp README.md SECURITY.md "$stage/"
  if [ "$goos" = windows ]; then
    (cd "$DIST" && zip -qr "$name.zip" "$name")
  else
    tar -C "$DIST" -czf "$DIST/$name.tar.gz" "$name"
  fi
  rm -rf "$stage"
done
(cd "$DIST" && sha256sum parley-* > SHA256SUMS)
echo "== $DIST"
ls -l "$DIST"
cat "$DIST/SHA256SUMS"
