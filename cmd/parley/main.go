// Command parley is the Parley messenger: `parley up` runs a node in the foreground,
// every other command is a client of that running node through its local API (but
// `history`, which reads the archive read-only when no node runs).
package main

import (
	"context"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), shutdownSignals...)
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
