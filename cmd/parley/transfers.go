package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/client"
)

func sendFileCommand() *cli.Command {
	return &cli.Command{
		Name:      "send-file",
		Usage:     "send files and folders; waits until the receiver has verified everything",
		ArgsUsage: "TO PATH...",
		Description: "Running the same send-file again resumes an interrupted transfer.\n" +
			"Ctrl-C stops watching; the node keeps the transfer going.",
		Flags:  []cli.Flag{jsonFlag},
		Action: runSendFile,
	}
}

func runSendFile(c *cli.Context) error {
	if c.NArg() < 2 {
		return usageError("send-file needs a recipient and at least one path: parley send-file TO PATH...")
	}
	paths, err := absPaths(c.Args().Tail())
	if err != nil {
		return err
	}
	cl, err := connect(c)
	if err != nil {
		return err
	}
	t, err := cl.SendFiles(c.Context, c.Args().First(), paths)
	if err != nil {
		return err
	}
	t, err = watchTransfer(c.Context, cl, t, newProgress(c.App.Writer, c.Bool("json")))
	if errors.Is(err, context.Canceled) {
		fmt.Fprintf(c.App.ErrWriter, "stopped watching; the transfer goes on in the node (`parley transfers`; cancel with `parley transfers cancel %s`)\n", t.ID)
		return &exitError{code: 130, err: errors.New("interrupted")}
	}
	if err != nil {
		return err
	}
	return reportTransfer(c, t)
}

// absPaths makes paths absolute (the node resolves them, possibly from another working
// directory) and checks they exist, so a typo fails here with a clear message.
func absPaths(paths []string) ([]string, error) {
	out := make([]string, len(paths))
	for i, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("cannot send %s: %w", p, err)
		}
		out[i] = abs
	}
	return out, nil
}

// watchTransfer polls the transfer until it ends, showing progress.
func watchTransfer(ctx context.Context, cl *client.Client, t api.Transfer, p progress) (api.Transfer, error) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for !t.Final() {
		p.update(t)
		select {
		case <-ctx.Done():
			p.done(t)
			return t, ctx.Err()
		case <-tick.C:
		}
		next, err := cl.Transfer(ctx, t.ID)
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			return t, err
		}
		t = next
	}
	p.done(t)
	return t, nil
}

func reportTransfer(c *cli.Context, t api.Transfer) error {
	if c.Bool("json") {
		if err := printJSON(c.App.Writer, t); err != nil {
			return err
		}
	} else if t.State == api.TransferCompleted {
		elapsed := t.UpdatedAt.Sub(t.StartedAt)
		fmt.Fprintf(c.App.Writer, "completed: %s, %s, verified by the receiver (%s)\n",
			plural(fileCount(t), "file"), formatBytes(t.TotalBytes), elapsed.Round(10*time.Millisecond))
	}
	if t.State != api.TransferCompleted {
		reason, _, _ := strings.Cut(t.Error, "\n")
		return fmt.Errorf("transfer %s (%s) %s: %s", t.ID, transferName(t), t.State, orDash(reason))
	}
	return nil
}

// progress renders a transfer's progress: a bar on a terminal, plain lines otherwise,
// nothing with --json.
type progress interface {
	update(api.Transfer)
	done(api.Transfer)
}

func newProgress(w io.Writer, quiet bool) progress {
	if quiet {
		return silentProgress{}
	}
	if f, ok := rawWriter(w).(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		return &barProgress{w: f}
	}
	return &lineProgress{w: w}
}

type silentProgress struct{}

func (silentProgress) update(api.Transfer) {}
func (silentProgress) done(api.Transfer)   {}

type barProgress struct {
	w       io.Writer
	bar     *progressbar.ProgressBar
	waiting string // the last waiting line printed, printed again only if it changes
}

func (b *barProgress) update(t api.Transfer) {
	if line, ok := waitingLine(t); ok && b.bar == nil {
		if line != b.waiting {
			fmt.Fprintln(b.w, line)
			b.waiting = line
		}
		return
	}
	if b.bar == nil && t.TotalBytes > 0 {
		b.bar = progressbar.NewOptions64(t.TotalBytes,
			progressbar.OptionSetWriter(b.w),
			progressbar.OptionSetDescription(fmt.Sprintf("%s %s %s", transferName(t), arrow(t), peerLabel(t))),
			progressbar.OptionShowBytes(true),
			progressbar.OptionUseIECUnits(true), // MiB and MiB/s, as everywhere else
			progressbar.OptionShowTotalBytes(true),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionFullWidth(),
			progressbar.OptionThrottle(100*time.Millisecond),
		)
	}
	if b.bar != nil {
		b.bar.Set64(t.DoneBytes)
	}
}

func (b *barProgress) done(t api.Transfer) {
	if b.bar != nil {
		b.bar.Set64(t.DoneBytes)
		b.bar.Exit()
		fmt.Fprintln(b.w)
	}
}

// lineProgress prints a plain line when the state changes and at most every 2 s.
type lineProgress struct {
	w     io.Writer
	last  time.Time
	state string
}

func (l *lineProgress) update(t api.Transfer) {
	if t.State == l.state && time.Since(l.last) < 2*time.Second {
		return
	}
	l.last, l.state = time.Now(), t.State
	fmt.Fprintln(l.w, progressLine(t))
}

func (l *lineProgress) done(t api.Transfer) { fmt.Fprintln(l.w, progressLine(t)) }

// waitingLine says what a sender waits for before any data moves: its own hashing, or
// the receiver's Accept.
func waitingLine(t api.Transfer) (string, bool) {
	if t.Direction != "out" {
		return "", false
	}
	switch t.State {
	case api.TransferHashing:
		return fmt.Sprintf("hashing %s before offering it to %s", transferName(t), peerLabel(t)), true
	case api.TransferWaiting:
		if t.DoneBytes == 0 {
			return fmt.Sprintf("waiting for %s to accept %s", peerLabel(t), transferName(t)), true
		}
	}
	return "", false
}

func progressLine(t api.Transfer) string {
	if line, ok := waitingLine(t); ok {
		return line
	}
	line := fmt.Sprintf("%s %s %s: %s of %s (%s)", transferName(t), arrow(t), peerLabel(t), formatBytes(t.DoneBytes), formatBytes(t.TotalBytes), t.State)
	if t.State == api.TransferTransferring && t.Rate > 0 {
		eta := time.Duration(float64(t.TotalBytes-t.DoneBytes) / t.Rate * float64(time.Second))
		line += fmt.Sprintf(" %s, ETA %s", formatRate(t.Rate), eta.Round(time.Second))
	}
	if note := noteOf(t); note != "" && t.State != api.TransferCompleted {
		line += ": " + note
	}
	return line
}

func arrow(t api.Transfer) string {
	if t.Direction == "in" {
		return "←"
	}
	return "→"
}

func peerLabel(t api.Transfer) string {
	if t.PeerName != "" {
		return visible(t.PeerName)
	}
	return shortID(t.PeerID)
}

func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func transfersCommand() *cli.Command {
	return &cli.Command{
		Name:   "transfers",
		Usage:  "list file transfers; accept or cancel one",
		Flags:  []cli.Flag{jsonFlag},
		Action: listTransfers,
		Subcommands: []*cli.Command{
			transferActionCommand("accept", "accept an incoming transfer that waits for you", (*client.Client).AcceptTransfer),
			transferActionCommand("cancel", "cancel a transfer either way (the peer is told)", (*client.Client).CancelTransfer),
		},
	}
}

func listTransfers(c *cli.Context) error {
	cl, err := connect(c)
	if err != nil {
		return err
	}
	ts, err := cl.Transfers(c.Context)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, api.TransferList{Transfers: nonNil(ts)})
	}
	if len(ts) == 0 {
		fmt.Fprintln(c.App.Writer, "No transfers.")
		return nil
	}
	return printTransfers(c.App.Writer, ts)
}

// printTransfers is the `parley transfers` table: one line each, named by what moves;
// the ID is its first 8 digits (any unique prefix names it).
func printTransfers(w io.Writer, ts []api.Transfer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tDIR\tPEER\tSTATE\tPROGRESS\tFILES\tNOTE")
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", shortTransferID(t.ID), transferName(t), t.Direction,
			peerLabel(t), t.State, progressText(t), fileCount(t), orDash(noteOf(t)))
	}
	return tw.Flush()
}

// progressText is "1.0 MiB / 3.0 MiB", with the rate while data moves.
func progressText(t api.Transfer) string {
	s := formatBytes(t.DoneBytes) + " / " + formatBytes(t.TotalBytes)
	if t.State == api.TransferTransferring && t.Rate > 0 {
		s += " at " + formatRate(t.Rate)
	}
	return s
}

// formatRate is a rate in the units of formatBytes: "12.5 MiB/s".
func formatRate(r float64) string { return formatBytes(int64(r)) + "/s" }

// noteOf is t's one-line note (from a node older than notes: the first line of its
// error).
func noteOf(t api.Transfer) string {
	if t.Note != "" {
		return t.Note
	}
	line, _, _ := strings.Cut(t.Error, "\n")
	return line
}

// fileCount is how many files t holds, folders not counted (a node older than
// file_count lists them all, and one older than folder_count counts folders too).
func fileCount(t api.Transfer) int {
	return max(t.FileCount, len(t.Files)) - t.FolderCount
}

func transferActionCommand(name, usage string, act func(*client.Client, context.Context, string) (api.Transfer, error)) *cli.Command {
	return &cli.Command{
		Name:        name,
		Usage:       usage,
		ArgsUsage:   "ID",
		Description: "ID is the transfer's ID or any unique prefix of it (the first 8 digits `parley transfers` shows).",
		Flags:       []cli.Flag{jsonFlag},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError("transfers %s needs one transfer ID (see `parley transfers`)", name)
			}
			cl, err := connect(c)
			if err != nil {
				return err
			}
			t, err := act(cl, c.Context, c.Args().First())
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, t)
			}
			fmt.Fprintln(c.App.Writer, progressLine(t))
			return nil
		},
	}
}
