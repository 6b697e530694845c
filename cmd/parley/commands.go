package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/urfave/cli/v2"

	"github.com/parley-im/parley/api"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/crypto"
	"github.com/parley-im/parley/daemon"
)

const version = api.Version

func initCommand() *cli.Command {
	return &cli.Command{
		Name:  "init",
		Usage: "create this home's identity (refuses to overwrite one)",
		Flags: []cli.Flag{&cli.StringFlag{Name: "name", Usage: "display name others see", Value: crypto.DefaultName()}, passphraseFlag, jsonFlag},
		Action: func(c *cli.Context) error {
			var pass []byte
			if c.Bool("passphrase") {
				var err error
				if pass, err = newPassphrase(c); err != nil {
					return err
				}
			}
			id, err := crypto.CreateSealed(homeOf(c), c.String("name"), pass)
			if err != nil {
				return err
			}
			if pass == nil {
				warnUnsealed(c.App.ErrWriter, homeOf(c))
			}
			fp, _ := crypto.Fingerprint(id.Key.GetPublic())
			st := api.Status{PeerID: id.PeerID.String(), Name: id.Name, Fingerprint: fp, Home: homeOf(c), Version: version}
			if c.Bool("json") {
				return printJSON(c.App.Writer, st)
			}
			fmt.Fprintf(c.App.Writer, "Created identity in %s\n", st.Home)
			printStatus(c.App.Writer, st)
			return nil
		},
	}
}

func upCommand() *cli.Command {
	return &cli.Command{
		Name:  "up",
		Usage: "run the node in the foreground (creates an identity on first use)",
		Flags: append([]cli.Flag{
			&cli.StringSliceFlag{Name: "listen", Usage: "libp2p listen multiaddr (repeatable; default TCP+QUIC on port 4747 or a free one)"},
			&cli.StringSliceFlag{Name: "peer", Usage: "full /p2p/ multiaddr of a peer to keep connected (repeatable)"},
			&cli.BoolFlag{Name: "no-mdns", Usage: "do not advertise or browse the LAN by mDNS"},
			&cli.StringSliceFlag{Name: "rendezvous", Usage: "a rendezvous server's full /p2p/ address to register with and discover through (repeatable)"},
			&cli.StringFlag{Name: "namespace", Usage: "rendezvous namespace: separate teams use separate ones", Value: "parley"},
			&cli.StringFlag{Name: "stun", Usage: "STUN server HOST:PORT for learning the outside address (default: the first rendezvous server, port 3478; off: none)"},
			&cli.StringFlag{Name: "api", Usage: "loopback address of the local API and web app " +
				"(unset: the port of the last start, else this one, else a free one)", Value: daemon.DefaultAPIAddr},
			&cli.StringFlag{Name: "name", Usage: "display name, used when a new identity is created"},
			&cli.StringFlag{Name: "log-level", Usage: "debug, info, warn or error", Value: "info"},
			&cli.StringFlag{Name: "on-message", Usage: "run `CMD` (sh -c) for every incoming message; PARLEY_FROM, PARLEY_FROM_NAME, PARLEY_TEXT in its environment, the text on stdin"},
			&cli.StringFlag{Name: "retain", Usage: "keep messages this long, purging older ones hourly, e.g. 90d"},
			&cli.DurationFlag{Name: "away-after", Usage: "turn away after this long without activity (0: never)", Value: 15 * time.Minute},
			&cli.StringFlag{Name: "accept-files", Usage: "whose file offers are accepted without asking: contacts, any or ask", Value: "contacts"},
			&cli.StringFlag{Name: "downloads", Usage: "where received files land (default HOME/downloads; on Windows and macOS, for the default home, Downloads/Parley)"},
			&cli.StringFlag{Name: "scan-cmd", Usage: "scanner run on each received file (split on spaces, \"double quotes\" keep a path with spaces whole; the file's path appended); non-zero exit keeps it quarantined"},
			&cli.StringFlag{Name: "max-transfer-size", Usage: "largest incoming transfer accepted, e.g. 50GiB (default: no limit)"},
			&cli.BoolFlag{Name: "allow-relay-files", Usage: "let files go over a relayed connection (slow, limited)"},
			&cli.DurationFlag{Name: "offer-expiry", Usage: "delete a file offer nobody accepted after this long, e.g. 72h", Value: daemon.DefaultOfferExpiry},
			&cli.Float64Flag{Name: "message-rate", Usage: "direct messages per second each peer may send, in bursts of 10 s' worth; more are refused and a flooder is disconnected; peers that are neither contacts nor written to share 200 messages and 1 MiB an hour (0: no limits)", Value: daemon.DefaultMessageRate},
			&cli.StringSliceFlag{Name: "mailbox-peer", Usage: "full /p2p/ address of a mailbox to keep your mail while you are away (repeatable; those on the LAN are found by themselves)"},
			networkKeyFlag,
			// For tests: how long a peer announced by mDNS may stay without ever speaking Parley
			// (node.DefaultForgetAfter, 3 minutes, when 0).
			&cli.DurationFlag{Name: "mdns-forget-after", Hidden: true},
		}, mailboxFlags()...),
		Action: runUp,
	}
}

func runUp(c *cli.Context) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return usageError("--log-level %q: use debug, info, warn or error", c.String("log-level"))
	}
	transfers, err := transferFlags(c)
	if err != nil {
		return err
	}
	netKey, err := networkKey(c)
	if err != nil {
		return err
	}
	mail, err := mailboxConfig(c)
	if err != nil {
		return err
	}
	mail.Peers = c.StringSlice("mailbox-peer")
	var retain time.Duration
	if s := c.String("retain"); s != "" {
		if retain, err = parseAge(s); err != nil || retain <= 0 {
			return usageError("--retain %q: give a positive age such as 90d; leave it out to keep everything", s)
		}
	}
	log := slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: level}))
	out := c.App.Writer
	return daemon.Run(c.Context, daemon.Options{
		Home: homeOf(c), Name: c.String("name"), APIAddr: apiAddrFlag(c),
		Listen: c.StringSlice("listen"), StaticPeers: c.StringSlice("peer"),
		MDNS: !c.Bool("no-mdns"), Rendezvous: c.StringSlice("rendezvous"), Namespace: c.String("namespace"),
		STUN: c.String("stun"), NetworkKey: netKey,
		AwayAfter: c.Duration("away-after"), Transfers: transfers, Logger: log, Mailbox: mail,
		Retain: retain, OnMessage: c.String("on-message"), MessageRate: messageRate(c.Float64("message-rate")),
		ForgetAfter: c.Duration("mdns-forget-after"),
		Ready: func(st api.Status, apiAddr string, created bool) {
			if created {
				fmt.Fprintf(out, "Created a new identity in %s\n", st.Home)
				warnUnsealed(c.App.ErrWriter, st.Home)
			}
			printStatus(out, st)
			fmt.Fprintf(out, "API:          http://%s (token in %s)\n", apiAddr, api.TokenFile)
			fmt.Fprintln(out, "Parley is up. Press Ctrl-C to stop.")
		},
	})
}

// messageRate turns --message-rate into node.Config's MessageRate, where 0 means the
// default and a negative rate no limit.
func messageRate(flag float64) float64 {
	if flag <= 0 {
		return -1
	}
	return flag
}

// transferFlags reads the file-transfer flags of `up`.
func transferFlags(c *cli.Context) (daemon.TransferOptions, error) {
	tc := daemon.TransferOptions{
		AcceptFiles: c.String("accept-files"), ScanCmd: splitCommand(c.String("scan-cmd")),
		AllowRelay: c.Bool("allow-relay-files"), OfferExpiry: c.Duration("offer-expiry"),
	}
	if tc.OfferExpiry <= 0 {
		return tc, usageError("--offer-expiry %s: give a positive duration, e.g. 24h or 72h", tc.OfferExpiry)
	}
	tc.Downloads = defaultDownloads(homeOf(c))
	if d := c.String("downloads"); d != "" {
		var err error
		if tc.Downloads, err = filepath.Abs(d); err != nil {
			return tc, err
		}
	}
	if s := c.String("max-transfer-size"); s != "" {
		size, err := humanize.ParseBytes(s)
		if err != nil {
			return tc, usageError("--max-transfer-size %q: %v (write e.g. 500MiB or 50GiB)", s, err)
		}
		tc.MaxSize = int64(size)
	}
	return tc, nil
}

func idCommand() *cli.Command {
	return &cli.Command{
		Name:  "id",
		Usage: "show this node's peer ID, name, fingerprint and addresses",
		Flags: []cli.Flag{jsonFlag},
		Action: func(c *cli.Context) error {
			st, err := status(c)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, st)
			}
			printStatus(c.App.Writer, st)
			if len(st.Addrs) == 0 {
				fmt.Fprintln(c.App.Writer, "(no node is running for this home, so no addresses)")
			}
			return nil
		},
	}
}

// status asks the running node; with none running it reads the identity in the home
// (a rendezvous server's home, or a node that is stopped), which has no addresses.
func status(c *cli.Context) (api.Status, error) {
	cl, err := connect(c)
	if err == nil {
		return cl.Status(c.Context)
	}
	if !errors.Is(err, client.ErrNotRunning) {
		return api.Status{}, err
	}
	id, lerr := crypto.Load(homeOf(c))
	if lerr != nil {
		return api.Status{}, err // no node and no identity: say the node is not running
	}
	fp, _ := crypto.Fingerprint(id.Key.GetPublic())
	return api.Status{PeerID: id.PeerID.String(), Name: id.Name, Fingerprint: fp, Home: homeOf(c), Version: version}, nil
}

func printStatus(w io.Writer, st api.Status) {
	fmt.Fprintf(w, "Name:         %s\n", st.Name)
	fmt.Fprintf(w, "Peer ID:      %s\n", st.PeerID)
	fmt.Fprintf(w, "Fingerprint:  %s\n", st.Fingerprint)
	for i, a := range st.Addrs {
		label := ""
		if i == 0 {
			label = "Addresses:"
		}
		fmt.Fprintf(w, "%-13s %s\n", label, a)
	}
}

func peersCommand() *cli.Command {
	return &cli.Command{
		Name:  "peers",
		Usage: "list the peers this node knows, with presence",
		Flags: []cli.Flag{jsonFlag},
		Action: func(c *cli.Context) error {
			cl, err := connect(c)
			if err != nil {
				return err
			}
			peers, err := cl.Peers(c.Context)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, api.PeerList{Peers: nonNil(peers)})
			}
			if len(peers) == 0 {
				fmt.Fprintln(c.App.Writer, "No peers yet. Others on this LAN appear here once their `parley up` runs.")
				return nil
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tPRESENCE\tSTATUS\tVIA\tPATH\tPEER ID")
			for _, p := range peers {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", orDash(p.Name), p.Presence, orDash(p.Status), p.Via, path(p), p.PeerID)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			for _, p := range peers {
				printWarning(c.App.Writer, orDash(p.Name), p.PeerID, p.Warning)
			}
			return nil
		},
	}
}

func path(p api.Peer) string {
	switch {
	case !p.Connected:
		return "-"
	case p.Relayed:
		return "relayed"
	default:
		return "direct"
	}
}

func sendCommand() *cli.Command {
	return &cli.Command{
		Name:        "send",
		Usage:       "send a message (TO: a peer, or '#ROOM') and wait until it is delivered",
		ArgsUsage:   "TO TEXT...",
		Description: "A TEXT of - sends what stdin holds (at most 32 KiB).",
		Flags:       []cli.Flag{jsonFlag},
		Action: func(c *cli.Context) error {
			if c.NArg() < 2 {
				return usageError("send needs a recipient and text: parley send TO TEXT...")
			}
			text, err := messageText(c.Args().Tail(), c.App.Reader)
			if err != nil {
				return err
			}
			cl, err := connect(c)
			if err != nil {
				return err
			}
			res, err := cl.Send(c.Context, c.Args().First(), text)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				if err := printJSON(c.App.Writer, res); err != nil {
					return err
				}
			} else {
				fmt.Fprintln(c.App.Writer, res.Message.State)
			}
			if res.Error != "" {
				return fmt.Errorf("not delivered: %s", res.Error)
			}
			return nil
		},
	}
}

// messageText is the words of `send` joined by spaces, or, for the single word "-", what
// stdin holds (at most api.MaxText bytes, without its trailing newlines).
func messageText(words []string, stdin io.Reader) (string, error) {
	if len(words) != 1 || words[0] != "-" {
		return strings.Join(words, " "), nil
	}
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	data, err := io.ReadAll(io.LimitReader(stdin, api.MaxText+1))
	if err != nil {
		return "", fmt.Errorf("read the text from stdin: %w", err)
	}
	if len(data) > api.MaxText {
		return "", fmt.Errorf("stdin holds more than %d KiB, the most one message holds: send it as a file with `parley send-file TO FILE`", api.MaxText>>10)
	}
	text := strings.TrimRight(string(data), "\r\n")
	if strings.TrimSpace(text) == "" {
		return "", errors.New("nothing to send: stdin was empty (`parley send TO -` sends what is piped in)")
	}
	return text, nil
}

func historyCommand() *cli.Command {
	return &cli.Command{
		Name:      "history",
		Usage:     "list archived messages, all or with one peer",
		ArgsUsage: "[TO]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "search", Usage: "full-text search words"},
			&cli.StringFlag{Name: "since", Usage: "only messages sent since: RFC 3339 time, date (2006-01-02) or age (36h)"},
			&cli.StringFlag{Name: "until", Usage: "only messages sent before: same forms as --since"},
			&cli.IntFlag{Name: "limit", Usage: "at most this many, the newest", Value: 100},
			&cli.StringFlag{Name: "export", Usage: "write the (filtered) archive to `FILE` as JSON lines; - for stdout"},
			&cli.BoolFlag{Name: "report", Usage: "time spent in conversation per contact (--since/--until; --gap ends a session)"},
			&cli.DurationFlag{Name: "gap", Usage: "with --report: a silence longer than this ends a session", Value: 10 * time.Minute},
			&cli.StringFlag{Name: "retain", Usage: "delete messages older than this age now, e.g. 90d or 2160h (queued ones stay)"},
			jsonFlag,
		},
		Action: runHistory,
	}
}

func runHistory(c *cli.Context) error {
	if c.NArg() > 1 {
		return usageError("history takes one peer, got %q (parley history Bob --limit 20)", c.Args().Slice())
	}
	q := api.HistoryQuery{Peer: c.Args().First(), Search: c.String("search"), Limit: c.Int("limit")}
	if q.Limit < 0 {
		return usageError("--limit %d: give a positive number of messages", q.Limit)
	}
	var err error
	if q.Since, err = parseWhen(c.String("since")); err != nil {
		return usageError("--since: %v", err)
	}
	if q.Until, err = parseWhen(c.String("until")); err != nil {
		return usageError("--until: %v", err)
	}
	tools := c.String("export") != "" || c.Bool("report") || c.String("retain") != ""
	cl, err := connect(c)
	if errors.Is(err, client.ErrNotRunning) && !tools {
		return offlineHistory(c, q, err)
	}
	if err != nil {
		return err
	}
	switch {
	case c.String("export") != "":
		return exportHistory(c, cl, q)
	case c.Bool("report"):
		return reportHistory(c, cl, q)
	case c.String("retain") != "":
		return retainHistory(c, cl)
	}
	msgs, err := cl.History(c.Context, q)
	if err != nil {
		return err
	}
	if q.Peer != "" {
		cl.MarkRead(c.Context, q.Peer) // the user has now seen the conversation
	}
	return printHistory(c, q, msgs)
}

// offlineHistory lists messages from the archive of a node that is not running (why),
// read-only, and says so on stderr.
func offlineHistory(c *cli.Context, q api.HistoryQuery, why error) error {
	o, err := openOffline(c.Context, homeOf(c), why)
	if err != nil {
		return err
	}
	defer o.Close()
	msgs, err := o.History(c.Context, q)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.ErrWriter, "(parley is not running for home %s: read its archive read-only; states are as of when it stopped)\n", homeOf(c))
	return printHistory(c, q, msgs)
}

func printHistory(c *cli.Context, q api.HistoryQuery, msgs []api.Message) error {
	if c.Bool("json") {
		return printJSON(c.App.Writer, api.MessageList{Messages: nonNil(msgs)})
	}
	if len(msgs) == 0 {
		fmt.Fprintln(c.App.Writer, noMessages(q))
	}
	for _, m := range msgs {
		fmt.Fprintln(c.App.Writer, formatMessage(m))
	}
	return nil
}

// noMessages is what an empty listing says.
func noMessages(q api.HistoryQuery) string {
	switch {
	case strings.TrimSpace(q.Search) != "":
		return fmt.Sprintf("no messages match %q", q.Search)
	case !q.Since.IsZero() || !q.Until.IsZero():
		return "no messages in that time (--since/--until)"
	case q.Peer != "":
		return "no messages with " + visible(q.Peer) + " yet"
	}
	return "no messages yet"
}

// maxAgeDays is the longest age in days a time.Duration holds (about 292 years).
const maxAgeDays = int(math.MaxInt64 / int64(24*time.Hour))

// parseAge reads an age such as 90d, 36h or 2160h.
func parseAge(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > maxAgeDays {
			return 0, fmt.Errorf("%q is not a number of days (0 to %d)", s, maxAgeDays)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not an age like 90d or 36h", s)
	}
	return d, nil
}

// parseWhen accepts an RFC 3339 time, a date, or an age like 36h.
func parseWhen(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, time.Local); err == nil {
		return t, nil
	}
	if d, err := parseAge(s); err == nil {
		return time.Now().Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time (2026-11-21T15:04:05Z), a date (2026-11-21) or an age (36h)", s)
}

// formatMessage renders one message as a history line: "Ann → Bob: text".
func formatMessage(m api.Message) string {
	from := orDefault(m.FromName, shortID(m.From))
	to := "me"
	if m.Direction == "out" {
		from, to = "me", orDefault(m.ToName, shortID(m.To))
	}
	if m.Room != "" {
		to = "#" + orDefault(m.RoomName, m.Room)
	}
	return fmt.Sprintf("%s  %-9s %s → %s: %s", m.SentAt.Local().Format("2006-01-02 15:04:05"), stateLabel(m), from, to, visibleText(m.Text))
}

// stateLabel is m's state as history shows it; a held message says at which mailbox
// (the end of its peer ID, as shortID shows peers).
func stateLabel(m api.Message) string {
	if m.State != api.StateHeld || len(m.HeldAt) == 0 {
		return m.State
	}
	at := make([]string, len(m.HeldAt))
	for i, p := range m.HeldAt {
		at[i] = shortID(p)
	}
	return m.State + "@" + strings.Join(at, ",")
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:4] + "…" + id[len(id)-6:]
	}
	return id
}

// orDash is s made visible (see visible), or "-" when empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return visible(s)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// apiAddrFlag is --api when given; empty lets the node pick (daemon.Options.APIAddr).
func apiAddrFlag(c *cli.Context) string {
	if c.IsSet("api") {
		return c.String("api")
	}
	return ""
}
