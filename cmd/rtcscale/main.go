// Command rtcscale: a minimal entry point for the whatif branch, to be
// replaced by the real one on merge (which must dispatch "whatif" to
// runWhatif).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: rtcscale whatif --trace FILE --hpa MANIFEST [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	switch os.Args[1] {
	case "whatif":
		if err := runWhatif(ctx, os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "rtcscale whatif:", err)
			os.Exit(1)
		}
	default:
		fmt.Fprintf(os.Stderr, "rtcscale: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
}
