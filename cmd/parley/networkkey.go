package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/parley-im/parley/crypto"
)

func networkKeyCommand() *cli.Command {
	newKey := &cli.Command{
		Name:      "new",
		Usage:     "write a new private-network key to FILE (mode 0600; never overwrites)",
		ArgsUsage: "FILE",
		Flags:     []cli.Flag{jsonFlag},
		Description: "The file is a standard libp2p PSK (/key/swarm/psk/1.0.0/, base16), so other libp2p\n" +
			"tools read it too. Give it to every member (`parley up --network-key FILE`): nodes\n" +
			"without it cannot complete a handshake with those that have it.",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError("network-key new needs exactly one FILE, got %d arguments", c.NArg())
			}
			path := c.Args().First()
			if err := crypto.NewNetworkKey(path); err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, struct {
					Path string `json:"path"`
				}{path})
			}
			fmt.Fprintf(c.App.Writer, "Wrote a new network key to %s (mode 0600). Share it only with members: parley up --network-key %s\n", path, path)
			return nil
		},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return &exitError{code: 2, err: fmt.Errorf("%w (see `parley network-key new --help`)", err)}
		},
	}
	return &cli.Command{
		Name:            "network-key",
		Usage:           "private networks: parley network-key new FILE",
		Subcommands:     []*cli.Command{newKey},
		HideHelpCommand: true,
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usageError("unknown command \"network-key %s\": use `parley network-key new FILE`", c.Args().First())
			}
			return cli.ShowSubcommandHelp(c)
		},
	}
}

// networkKeyFlag is --network-key of `up` and `rendezvous serve`.
var networkKeyFlag = &cli.StringFlag{
	Name:  "network-key",
	Usage: "private network: only peers with this key `FILE` (parley network-key new) can connect; TCP only, QUIC is off",
}

// networkKey reads --network-key, if given. A QUIC (UDP) --listen address with a key is a
// usage error: go-libp2p refuses QUIC in a private network.
func networkKey(c *cli.Context) ([]byte, error) {
	path := c.String("network-key")
	if path == "" {
		return nil, nil
	}
	isUDP := func(a string) bool { return strings.Contains(a, "/udp/") }
	if slices.ContainsFunc(c.StringSlice("listen"), isUDP) {
		return nil, usageError("--listen %v with --network-key: QUIC cannot carry a private-network key in go-libp2p; use TCP addresses", c.StringSlice("listen"))
	}
	return crypto.LoadNetworkKey(path)
}
