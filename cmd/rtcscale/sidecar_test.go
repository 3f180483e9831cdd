package main

import (
	"context"
	"strings"
	"testing"
)

// TestSidecarCommand: `rtcscale sidecar` is the sidecar's own command,
// whose tests are in sidecar/app, and its drain command too.
func TestSidecarCommand(t *testing.T) {
	err := runSidecar(context.Background(), []string{"--source", "freeswitch"})
	if err == nil || !strings.Contains(err.Error(), `--source: unknown source "freeswitch": want one of asterisk, jvb, kamailio, rtpengine`) {
		t.Errorf("unknown source: %v", err)
	}
	err = runSidecar(context.Background(), []string{"drain", "--timeout", "-1s"})
	if err == nil || err.Error() != "drain: --timeout -1s is negative" {
		t.Errorf("drain: %v", err)
	}
}
