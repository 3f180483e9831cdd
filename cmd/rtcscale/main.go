// Command rtcscale turns the load of real-time-communication servers,
// published on NATS by their sidecars, into metrics the Kubernetes HPA can
// scale on. See `rtcscale help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/spf13/pflag"
	cliflag "k8s.io/component-base/cli/flag"

	"github.com/rtcscale/rtcscale/internal/buildinfo"
	_ "github.com/rtcscale/rtcscale/internal/exepages/startup"
)

// command is a subcommand. Its flags come in named sections, rtcscale's
// own first, so that --help lists what the command is about before the
// klog and API server flags every Kubernetes component has.
type command struct {
	summary string
	// synopsis follows "Usage: " in --help.
	synopsis string
	// setup returns the command's flags and the run that acts on them
	// once inv.args are parsed (fs is every section's flags, fs.Args()
	// what is left).
	setup func(inv invocation) (cliflag.NamedFlagSets, func(ctx context.Context, fs *pflag.FlagSet) error)
	// raw, for a command that parses its own arguments, replaces setup.
	raw func(ctx context.Context, args []string) error
}

var commands = map[string]command{
	"adapter":  {summary: "serve the custom and external metrics APIs from NATS load samples (in a cluster)", synopsis: "rtcscale adapter [flags]", setup: adapterCommand},
	"backtest": {summary: "score the predictor's models on a load trace", synopsis: "rtcscale backtest --trace FILE [flags]", setup: backtestCommand},
	"sidecar":  {summary: "read a local RTC server's load (Kamailio, rtpengine, JVB, Asterisk) and publish it for its pod", raw: runSidecar},
	"demo":     {summary: "run everything on this machine: embedded NATS, a simulated fleet, the metrics APIs on localhost", synopsis: "rtcscale demo [flags]", setup: demoCommand},
	"version":  {summary: "print the version", synopsis: "rtcscale version", setup: versionCommand},
	"whatif":   {summary: "replay a load trace through a simulated HPA: reactive, with rtcscale's forecast, and the oracle", synopsis: "rtcscale whatif --trace FILE --hpa MANIFEST [flags]", setup: whatifCommand},
}

// helpColumns is where --help wraps the flags' descriptions.
const helpColumns = 100

// version may be set at link time (-ldflags "-X main.version=v1.2.3"), for
// a build without VCS information; see buildinfo.Version.
var version string

func main() {
	args := os.Args[1:]
	switch {
	case len(args) == 0:
		usage(os.Stderr)
		os.Exit(2)
	case args[0] == "help" || args[0] == "-h" || args[0] == "--help":
		usage(os.Stdout)
		return
	case args[0] == "--version":
		args[0] = "version"
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch err := runCommand(ctx, args[0], args[1:], os.Stdout, os.Stderr); {
	case errors.Is(err, errUnknownCommand):
		fmt.Fprintf(os.Stderr, "rtcscale: %v\n\n", err)
		usage(os.Stderr)
		os.Exit(2)
	case errors.Is(err, pflag.ErrHelp):
	case err != nil:
		fmt.Fprintf(os.Stderr, "rtcscale %s: %v\n", args[0], err)
		stop()
		os.Exit(1)
	}
}

// invocation is what a command is run with.
type invocation struct {
	args           []string
	stdout, stderr io.Writer
}

var errUnknownCommand = errors.New("unknown command")

// runCommand parses args with the command's flags and runs it. --help
// prints the flags to stderr and returns pflag.ErrHelp.
func runCommand(ctx context.Context, name string, args []string, stdout, stderr io.Writer) error {
	c, ok := commands[name]
	if !ok {
		return fmt.Errorf("%w %q", errUnknownCommand, name)
	}
	if c.raw != nil {
		return c.raw(ctx, args)
	}
	fss, run := c.setup(invocation{args, stdout, stderr})
	fs := flagSet(name, c.synopsis, fss, stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	return run(ctx, fs)
}

// flagSet returns one flag set of every section's flags, whose usage
// prints them section by section.
func flagSet(name, synopsis string, fss cliflag.NamedFlagSets, w io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(w)
	for _, s := range fss.Order {
		fs.AddFlagSet(fss.FlagSets[s])
	}
	fs.Usage = func() { printHelp(w, synopsis, fss) }
	return fs
}

// printHelp prints the synopsis and the flags section by section, each
// aligned on its own longest flag: cliflag.PrintSections aligns every
// section on a column so wide that each description starts a line of its
// own after trailing blanks.
func printHelp(w io.Writer, synopsis string, fss cliflag.NamedFlagSets) {
	fmt.Fprintf(w, "Usage: %s\n", synopsis)
	for _, name := range fss.Order {
		if fs := fss.FlagSets[name]; fs.HasFlags() {
			fmt.Fprintf(w, "\n%s flags:\n\n%s", strings.ToUpper(name[:1])+name[1:], fs.FlagUsagesWrapped(helpColumns))
		}
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: rtcscale <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'rtcscale <command> --help' for a command's flags, 'rtcscale --version' for the version.")
}

func versionCommand(inv invocation) (cliflag.NamedFlagSets, func(context.Context, *pflag.FlagSet) error) {
	return cliflag.NamedFlagSets{}, func(_ context.Context, fs *pflag.FlagSet) error {
		if fs.NArg() > 0 {
			return fmt.Errorf("unexpected arguments %q", fs.Args())
		}
		_, err := fmt.Fprintln(inv.stdout, "rtcscale", buildinfo.Version(version))
		return err
	}
}
