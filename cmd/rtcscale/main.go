// Command rtcscale turns the load of real-time-communication servers,
// published on NATS by their sidecars, into metrics the Kubernetes HPA can
// scale on. See `rtcscale help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/spf13/pflag"
)

type command struct {
	summary string
	run     func(ctx context.Context, args []string) error
}

var commands = map[string]command{
	"adapter":  {"serve the custom and external metrics APIs from NATS load samples (in a cluster)", runAdapter},
	"backtest": {"score the predictor's models on a load trace", runBacktest},
	"sidecar":  {"read a local RTC server's load (Kamailio, rtpengine, JVB, Asterisk) and publish it for its pod", runSidecar},
	"demo":     {"run everything on this machine: embedded NATS, a simulated fleet, the metrics APIs on localhost", runDemo},
	"version":  {"print the version", runVersion},
	"whatif":   {"replay a load trace through a simulated HPA: reactive, with rtcscale's forecast, and the oracle", runWhatif},
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if len(os.Args) < 2 || os.Args[1] == "help" || os.Args[1] == "-h" || os.Args[1] == "--help" {
		usage()
		return
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "rtcscale: unknown command %q\n\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.run(ctx, os.Args[2:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) || errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintf(os.Stderr, "rtcscale %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "Usage: rtcscale <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-9s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(os.Stderr, "\nRun 'rtcscale <command> --help' for a command's flags.")
}

func runVersion(context.Context, []string) error {
	fmt.Println("rtcscale", version)
	return nil
}
