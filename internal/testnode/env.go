package testnode

import (
	"os"
	"strings"
)

// childEnv is the environment of every process testnode starts: this process's, plus
// GORACE=atexit_sleep_ms=0 unless GORACE is set. A binary built with -race otherwise
// sleeps one second before it exits, which made every CLI call in a race-enabled test
// cost a second more than the command itself.
func childEnv(extra ...string) []string {
	env := os.Environ()
	if !hasVar(env, "GORACE") {
		env = append(env, "GORACE=atexit_sleep_ms=0")
	}
	return append(env, extra...)
}

func hasVar(env []string, name string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, name+"=") {
			return true
		}
	}
	return false
}
