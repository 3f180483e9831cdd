package main

import (
	"context"

	"github.com/rtcscale/rtcscale/sidecar/app"
)

// runSidecar is the sidecar's own command (sidecar/app), which the small
// rtcscale-sidecar binary runs as well.
func runSidecar(ctx context.Context, args []string) error {
	return app.Run(ctx, "rtcscale sidecar", args)
}
