// Command rtcscale-sidecar runs next to an RTC server in its pod: it reads
// the server's load and publishes it on NATS for rtcscale's adapter, and
// drains the server when the pod stops (`rtcscale-sidecar drain`, the
// server container's preStop hook). It is `rtcscale sidecar` without the
// adapter's libraries, so that every RTC pod carries a small process.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/rtcscale/rtcscale/internal/buildinfo"
	"github.com/rtcscale/rtcscale/sidecar/app"
)

// version may be set at link time (-ldflags "-X main.version=v1.2.3"), for
// a build without VCS information; see buildinfo.Version.
var version string

func main() {
	if len(os.Args) == 2 && (os.Args[1] == "version" || os.Args[1] == "--version") {
		fmt.Println("rtcscale-sidecar", buildinfo.Version(version))
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx, "rtcscale-sidecar", os.Args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return
		}
		fmt.Fprintf(os.Stderr, "rtcscale-sidecar: %v\n", err)
		stop()
		os.Exit(1)
	}
}
