package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/parley-im/parley/stun"
)

func natCommand() *cli.Command {
	return &cli.Command{
		Name:  "nat",
		Usage: "show this machine's address as a STUN server sees it, and whether hole punching can work",
		Description: "Asks each STUN server from one fresh UDP socket; needs no running node. Give two servers\n" +
			"on different addresses (or one server's two ports) to learn whether the mapping is\n" +
			"endpoint-independent. A rendezvous server answers STUN on UDP 3478.",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "stun", Usage: "STUN server `HOST:PORT` (repeatable; port 3478 if left out)"},
			jsonFlag,
		},
		Action: runNAT,
	}
}

func runNAT(c *cli.Context) error {
	servers := c.StringSlice("stun")
	if len(servers) == 0 {
		return usageError("nat needs a STUN server: parley nat --stun HOST:PORT (a rendezvous server answers on port 3478; give two to judge the mapping)")
	}
	if c.NArg() > 0 {
		return usageError("nat takes no arguments, got %q: name servers with --stun", c.Args().Slice())
	}
	rep, err := stun.Probe(c.Context, servers)
	if c.Bool("json") {
		if perr := printJSON(c.App.Writer, rep); perr != nil {
			return perr
		}
	} else {
		printNAT(c.App.Writer, rep)
	}
	return err
}

func printNAT(w io.Writer, rep stun.Report) {
	fmt.Fprintf(w, "Local:        %s\n", rep.Local)
	if rep.Mapped.IsValid() {
		fmt.Fprintf(w, "Mapped:       %s\n", rep.Mapped)
	}
	fmt.Fprintf(w, "Mapping:      %s\n", mappingVerdict(rep.Mapping))
	for _, r := range rep.Results {
		answer := r.Mapped.String()
		if r.Error != "" {
			answer = "no answer: " + r.Error
		}
		fmt.Fprintf(w, "  %-22s %s\n", r.Server, answer)
	}
}

func mappingVerdict(m string) string {
	switch m {
	case stun.MappingEndpointIndependent:
		return m + " (the same address towards every server: hole punching can work)"
	case stun.MappingEndpointDependent:
		return m + " (a new address per destination, a symmetric NAT: expect relayed connections)"
	default:
		return m + " (ask two servers on different addresses to find out)"
	}
}
