// Package bench holds benchmarks that run real parley node processes and print their
// figures beside the targets in PRODUCT.md. They are measurements, not timed tests:
// nothing fails because a figure misses its target; a benchmark fails only when what it
// measures did not work (a message not delivered, a peer never found).
//
// Each benchmark takes its own fixed number of samples, whatever b.N is, because
// percentiles need many samples; run each once:
//
//	go test ./bench -run '^$' -bench . -benchtime 1x -timeout 20m
//
// or bench/run.sh, which does that and keeps the output in bench/out/. Run them without
// -race: testnode builds the parley binary with -race when the test binary has it, and a
// race-enabled node is several times slower, so its figures would say nothing.
//
// The machine is shared and noisy, so where a baseline exists it is measured in the same
// run, interleaved with the thing measured, and the ratio is printed:
//
//   - BenchmarkMessageRoundTrip: two nodes on loopback (--no-mdns). 2000 rounds, each one
//     `send` (the node-measured time from opening the /parley/dm/1.0.0 stream to the
//     recipient's ACK, which it sends once the message is in its archive; and the client's
//     wall time for the whole API call) and one libp2p ping between the same processes,
//     the baseline. Target: p50 < 2 ms, p99 < 10 ms.
//   - BenchmarkMDNSFirstPeer: two netlab hosts (network namespaces on one bridge, mDNS on).
//     Node A is up in host 1; node B is started in host 2, five times, and the time from
//     B's process start to its "found peer" (via mdns) and "peer online" log lines for A
//     is taken both as the bench process received the line and as the node stamped it.
//     The target (< 1.5 s) is judged on "peer online", which every round has: when A's own
//     browse catches B first, A dials B and B never logs "found peer" for A. B runs
//     outside testnode so its lines are stamped as they arrive (testnode.Start returns
//     only once the API is up, after the moments measured). Needs root; skips without
//     it (fails under CI, as netlab does).
//   - BenchmarkIdleNode: two connected loopback nodes, and two mDNS nodes in netlab hosts
//     (skipped without root), settle 5 s, then RSS (VmRSS) is sampled every second for
//     30 s and CPU (utime+stime) taken over the window. Target: RSS < 80 MB, ~0 % CPU.
//
// The helpers in this package (percentiles, /proc readers, slog line parsing) are plain
// Go so they can be unit-tested; the node plumbing lives in the _test files.
package bench
