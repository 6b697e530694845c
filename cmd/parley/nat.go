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
		Description: "Asks each STUN server from one fresh UDP socket. Without --stun it asks the servers the\n" +
			"running node uses (`up --stun`, else each rendezvous server on UDP 3478); with --stun it\n" +
			"needs no running node. Give two servers on different addresses (or one server's two ports)\n" +
			"to learn whether the mapping is endpoint-independent.",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "stun", Usage: "STUN server `HOST:PORT` (repeatable; port 3478 if left out; default: the running node's)"},
			jsonFlag,
		},
		Action: runNAT,
	}
}

func runNAT(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageError("nat takes no arguments, got %q: name servers with --stun", c.Args().Slice())
	}
	servers := c.StringSlice("stun")
	if len(servers) == 0 {
		var err error
		if servers, err = nodeSTUN(c); err != nil {
			return err
		}
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

// nodeSTUN returns the STUN servers of the node running for the home, or an error that
// says how to name one.
func nodeSTUN(c *cli.Context) ([]string, error) {
	const name = "name a STUN server with `parley nat --stun HOST:PORT` (a rendezvous server answers on port 3478)"
	cl, err := connect(c)
	if err != nil {
		return nil, fmt.Errorf("%w, or %s", err, name)
	}
	st, err := cl.Status(c.Context)
	if err != nil {
		return nil, fmt.Errorf("ask the node for its STUN servers: %w; or %s", err, name)
	}
	if len(st.STUN) == 0 {
		return nil, fmt.Errorf("the node for home %s uses no STUN server (it was started without --rendezvous or --stun): %s", homeOf(c), name)
	}
	return st.STUN, nil
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
