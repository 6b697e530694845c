#!/usr/bin/env bash
# Runs the node benchmarks once each, WITHOUT -race (a race-enabled node is several
# times slower, so its figures would say nothing), and keeps the output in bench/out/.
# The mDNS benchmarks need root for network namespaces; without it they skip that part.
# Extra arguments go to `go test`, e.g.  bench/run.sh -bench MessageRoundTrip
set -euo pipefail

cd "$(dirname "$0")/.."
mkdir -p bench/out
out="bench/out/node.txt"
go test ./bench -run '^$' -bench . -benchtime 1x -timeout 40m "$@" 2>&1 | tee "$out"
echo "output: $out"
