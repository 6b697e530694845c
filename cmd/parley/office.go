package main

import (
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/client"
)

// exportHistory writes the archive as JSON lines to --export FILE (or stdout for -).
// The file is written next to its final name and renamed only when complete.
func exportHistory(c *cli.Context, cl *client.Client, q api.HistoryQuery) error {
	dest := c.String("export")
	if dest == "-" {
		_, err := cl.Export(c.Context, c.App.Writer, q)
		return err
	}
	tmp := dest + ".partial"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	n, err := cl.Export(c.Context, f, q)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("export to %s: %w", dest, err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	fmt.Fprintf(c.App.ErrWriter, "exported %d bytes to %s\n", n, dest)
	return nil
}

func reportHistory(c *cli.Context, cl *client.Client, q api.HistoryQuery) error {
	rep, err := cl.Report(c.Context, q.Since, q.Until, c.Duration("gap"), -1)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, rep)
	}
	printReport(c.App.Writer, rep)
	return nil
}

func printReport(w io.Writer, rep api.Report) {
	fmt.Fprintf(w, "Time in conversation (a session ends after %v of silence; each counts at least %v)\n", rep.Gap, rep.MinSession)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONTACT\tTIME\tSESSIONS\tMESSAGES\tFIRST\tLAST\tPEER ID")
	for _, p := range rep.Peers {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\n", orDash(p.Name), p.Duration.Round(time.Second), p.Sessions, p.Messages,
			p.First.Local().Format("2006-01-02 15:04"), p.Last.Local().Format("2006-01-02 15:04"), p.PeerID)
	}
	tw.Flush()
}

func retainHistory(c *cli.Context, cl *client.Client) error {
	age, err := parseAge(c.String("retain"))
	if err != nil {
		return usageError("--retain: %v", err)
	}
	deleted, err := cl.Purge(c.Context, time.Now().Add(-age))
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, api.PurgeResult{Deleted: deleted})
	}
	fmt.Fprintf(c.App.Writer, "deleted %s older than %s\n", plural(int(deleted), "message"), c.String("retain"))
	return nil
}
