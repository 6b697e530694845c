package bench

import (
	"fmt"
	"os"
	"testing"
)

// helperEnv selects a helper role when the test binary re-executes itself, here or
// inside a netlab host (see streams_test.go): the baselines of BenchmarkFileTransfer run
// in processes of their own, like the two node processes they are compared with.
const helperEnv = "PARLEY_BENCH_HELPER"

func TestMain(m *testing.M) {
	role := os.Getenv(helperEnv)
	if role == "" {
		os.Exit(m.Run())
	}
	run, ok := helperRoles[role]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown %s=%q\n", helperEnv, role)
		os.Exit(2)
	}
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "helper %s: %v\n", role, err)
		os.Exit(1)
	}
	os.Exit(0)
}
