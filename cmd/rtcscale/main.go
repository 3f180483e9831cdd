// Command rtcscale: a minimal entry point for the predictor branch, to be
// replaced by the real one on merge.
package main

import (
	"context"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: rtcscale backtest --trace FILE")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "backtest":
		if err := runBacktest(context.Background(), os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "rtcscale backtest:", err)
			os.Exit(1)
		}
	default:
		fmt.Fprintf(os.Stderr, "rtcscale: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
}
