package sidecar_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/rtcscale/rtcscale/sample"
	"github.com/rtcscale/rtcscale/sidecar"
)

// TestRTPEngineDrainEndToEnd drains Debian's rtpengine through the
// sidecar (its CLI: set maxsessions 0) while it carries a call: rtpengine
// then refuses the offer of a new call, keeps the call it has (answered
// after the drain, still counted), and once that call is deleted the
// sidecar reads 0 sessions.
//
// Needs the Debian package rtpengine-daemon.
func TestRTPEngineDrainEndToEnd(t *testing.T) {
	rtpe := startRTPEngine(t)
	src, err := sidecar.New(sample.KindRTPEngine, sidecar.Options{URL: rtpe.metricsURL, RTPEngineCLI: rtpe.cli})
	if err != nil {
		t.Fatal(err)
	}
	drainer, ok := src.(sidecar.Drainer)
	if !ok {
		t.Fatal("the rtpengine source is not a Drainer")
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	calls := func(want float64) func() (bool, string) {
		return func() (bool, string) {
			r, err := src.Read(ctx)
			if err != nil {
				return false, err.Error()
			}
			got := gauge(sample.Sample{Gauges: r.Gauges}, sample.GaugeCalls)
			return got == want, fmt.Sprint(got, " calls read")
		}
	}

	ngCommand(t, rtpe.ng, map[string]string{"command": "offer", "call-id": "kept", "from-tag": "caller", "sdp": audioSDP(0)})
	waitFor(t, "the sidecar's sessions before the drain", calls(1))

	if err := drainer.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := rtpengineCLI(t, rtpe.cli, "list maxsessions"), "Maximum sessions configured on rtpengine: 0\n"; got != want {
		t.Errorf("rtpengine's own word after the drain: %q, want %q", got, want)
	}

	reply := ngRequest(t, rtpe.ng, map[string]string{"command": "offer", "call-id": "new", "from-tag": "caller", "sdp": audioSDP(1)})
	if !bytes.Contains(reply, []byte("6:result5:error")) || !bytes.Contains(reply, []byte("Parallel session limit reached")) {
		t.Errorf("a new call's offer after the drain: %q, want result error, Parallel session limit reached", reply)
	}
	// The call it carries goes on: its callee answers after the drain.
	ngCommand(t, rtpe.ng, map[string]string{"command": "answer", "call-id": "kept", "from-tag": "caller", "to-tag": "callee", "sdp": audioSDP(2)})
	waitFor(t, "rtpengine's own sessions after the refused offer", rtpe.ownIs(1))
	if ok, state := calls(1)(); !ok {
		t.Errorf("the sidecar reads %s while the kept call goes on, want 1", state)
	}

	ngCommand(t, rtpe.ng, map[string]string{"command": "delete", "call-id": "kept", "from-tag": "caller"})
	waitFor(t, "the sidecar's sessions after the last call ended", calls(0))

	// A second drain (the drain flow retrying) is taken too.
	if err := drainer.Drain(ctx); err != nil {
		t.Errorf("draining again: %v", err)
	}
}

// rtpengineCLI sends a command line to rtpengine's CLI, as rtpengine-ctl
// does, and returns the reply, without the sidecar's code.
func rtpengineCLI(t testing.TB, addr, line string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		t.Fatal(err)
	}
	reply, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(reply)
}
