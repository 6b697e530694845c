package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/urfave/cli/v2"

	"github.com/parley-im/parley/daemon"
	"github.com/parley-im/parley/rendezvous"
)

func rendezvousCommand() *cli.Command {
	serve := &cli.Command{
		Name:  "serve",
		Usage: "run a presence server for networks mDNS does not reach (prints its full /p2p/ addresses)",
		Description: "Nodes register with it (`parley up --rendezvous ADDR`) and find each other through it;\n" +
			"it never sees messages (with --mailbox it keeps sealed ones it cannot read). It uses the --home identity, so its peer ID stays the\n" +
			"same across restarts, and answers STUN so nodes learn their address behind NAT.",
		Flags: append([]cli.Flag{
			&cli.StringSliceFlag{Name: "listen", Usage: "libp2p listen multiaddr (repeatable; default TCP and QUIC on port 4001)"},
			&cli.StringFlag{Name: "stun", Usage: "UDP `ADDR` of the STUN responder, or off", Value: daemon.DefaultSTUNAddr},
			&cli.BoolFlag{Name: "relay", Usage: "also relay (circuit v2) between peers that cannot reach each other"},
			&cli.DurationFlag{Name: "relay-duration", Usage: "how long one relayed connection may live", Value: daemon.DefaultRelayDuration},
			&cli.StringFlag{Name: "relay-data", Usage: "bytes one relayed connection may carry each way, e.g. 1MiB", Value: "128KiB"},
			&cli.IntFlag{Name: "max-per-ip", Usage: "registrations the server holds from one IPv4 address or IPv6 /64, `N` (0: 1024)"},
			&cli.IntFlag{Name: "max-per-peer", Usage: "namespaces one peer may be registered in, `N` (0: 16)"},
			&cli.StringFlag{Name: "metrics", Usage: "HTTP `ADDR` of /healthz and /metrics (Prometheus), or off", Value: daemon.DefaultMetricsAddr},
			&cli.StringFlag{Name: "name", Usage: "display name, used when a new identity is created", Value: "rendezvous"},
			&cli.StringFlag{Name: "log-level", Usage: "debug, info, warn or error", Value: "info"},
			&cli.BoolFlag{Name: "json", Usage: "print where it listens as one line of JSON once it is up"},
			networkKeyFlag,
		}, mailboxFlags()...),
		Action: runRendezvousServe,
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return &exitError{code: 2, err: fmt.Errorf("%w (see `parley rendezvous serve --help`)", err)}
		},
	}
	return &cli.Command{
		Name:            "rendezvous",
		Usage:           "run a rendezvous (presence) server: parley rendezvous serve",
		Subcommands:     []*cli.Command{serve},
		HideHelpCommand: true,
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usageError("unknown command \"rendezvous %s\": use `parley rendezvous serve`", c.Args().First())
			}
			return cli.ShowSubcommandHelp(c)
		},
	}
}

func runRendezvousServe(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageError("rendezvous serve takes no arguments, got %q", c.Args().Slice())
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return usageError("--log-level %q: use debug, info, warn or error", c.String("log-level"))
	}
	data, err := humanize.ParseBytes(c.String("relay-data"))
	if err != nil || data == 0 || data > 1<<50 {
		return usageError("--relay-data %q: give a positive size such as 128KiB or 1MiB", c.String("relay-data"))
	}
	if d := c.Duration("relay-duration"); d <= 0 {
		return usageError("--relay-duration %v: give a positive duration such as 2m", d)
	}
	for _, f := range []string{"max-per-ip", "max-per-peer"} {
		if n := c.Int(f); n < 0 {
			return usageError("--%s %d: give a positive count, or 0 for the default", f, n)
		}
	}
	netKey, err := networkKey(c)
	if err != nil {
		return err
	}
	mail, err := mailboxConfig(c)
	if err != nil {
		return err
	}
	out := c.App.Writer
	asJSON := c.Bool("json")
	return daemon.RunRendezvous(c.Context, daemon.RendezvousOptions{
		Home: homeOf(c), Name: c.String("name"), Listen: c.StringSlice("listen"),
		STUN: c.String("stun"), Metrics: c.String("metrics"), NetworkKey: netKey,
		Relay: c.Bool("relay"), RelayDuration: c.Duration("relay-duration"), RelayData: int64(data),
		Server:  rendezvous.ServerConfig{MaxPerIP: c.Int("max-per-ip"), MaxPerPeer: c.Int("max-per-peer")},
		Mailbox: mail,
		Logger:  slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: level})),
		Ready: func(in daemon.RendezvousInfo) {
			if asJSON {
				json.NewEncoder(out).Encode(in) // one line, so a script can read it while the server runs
				return
			}
			printRendezvous(out, in, c.Duration("relay-duration"), data)
		},
	})
}

func printRendezvous(w io.Writer, in daemon.RendezvousInfo, relayFor time.Duration, relayData uint64) {
	fmt.Fprintf(w, "Peer ID:      %s\n", in.PeerID)
	for i, a := range in.Addrs {
		label := ""
		if i == 0 {
			label = "Addresses:"
		}
		fmt.Fprintf(w, "%-13s %s\n", label, a)
	}
	fmt.Fprintf(w, "STUN:         %s\n", orDefault(in.STUN, "off"))
	metrics := "off"
	if in.Metrics != "" {
		metrics = "http://" + in.Metrics + "/metrics (and /healthz)"
	}
	fmt.Fprintf(w, "Metrics:      %s\n", metrics)
	relay := "off"
	if in.Relay {
		relay = fmt.Sprintf("on, %v and %s per connection", relayFor, humanize.IBytes(relayData))
	}
	fmt.Fprintf(w, "Relay:        %s\n", relay)
	if in.Mailbox {
		fmt.Fprintln(w, "Mailbox:      on, keeping sealed mail for peers that are away")
	}
	fmt.Fprintln(w, "Give clients the first address: parley up --rendezvous ADDR. Press Ctrl-C to stop.")
}
