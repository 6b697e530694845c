#!/usr/bin/env bash
# The whole Parley test suite, as CI runs it: formatting, vet, a CGO_ENABLED=0 build,
# every test with the race detector (the namespace tests need root: run as root), then
# a short run of every fuzz target.
#
#   FUZZTIME=30s bash scripts/test.sh    longer fuzzing
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change these files:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== build without cgo"
CGO_ENABLED=0 go build -o /dev/null ./cmd/parley

echo "== go test -race"
go test -race -count=1 -timeout 25m ./...

echo "== fuzz targets (${FUZZTIME:=10s} each)"
grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r file; do
  dir=$(dirname "$file")
  for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | sed 's/^func //'); do
    echo "-- $target in $dir"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$dir"
  done
done
echo "== all tests passed"
