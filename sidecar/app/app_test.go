package app

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtcscale/rtcscale/internal/natstest"
	"github.com/rtcscale/rtcscale/sample"
)

// freeAddress returns a loopback address that was free a moment ago.
func freeAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestSidecarCommand runs the command as a pod does, against a real NATS
// server and a Kamailio on loopback replaying its recorded stats.fetch
// reply: it publishes, serves its probes, and a drain through the drain
// command ends at its deadline while calls remain and once they are gone.
func TestSidecarCommand(t *testing.T) {
	ns := natstest.Start(t)
	busy, err := os.ReadFile("../testdata/kamailio-stats-fetch.json")
	if err != nil {
		t.Fatal(err)
	}
	empty := bytes.Replace(busy, []byte(`"dialog.active_dialogs":"5"`), []byte(`"dialog.active_dialogs":"0"`), 1)
	var calls atomic.Bool
	calls.Store(true)
	kamailio := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if calls.Load() {
			w.Write(busy)
			return
		}
		w.Write(empty)
	}))
	defer kamailio.Close()

	nc := natstest.Connect(t, ns.ClientURL())
	sub, err := nc.SubscribeSync(sample.Subject(sample.DefaultSubjectPrefix, "voice", sample.KindKamailio, "proxy-0"))
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	next := func() sample.Sample {
		t.Helper()
		m, err := sub.NextMsg(30 * time.Second)
		if err != nil {
			t.Fatalf("no sample: %v", err)
		}
		var dec sample.Decoder
		var s sample.Sample
		if r := dec.Decode(m.Data, &s); r != sample.Accepted {
			t.Fatalf("rejected (%s): %s", r.Description(), m.Data)
		}
		return s
	}

	// The downward API's variables name the pod.
	t.Setenv("POD_NAME", "proxy-0")
	t.Setenv("POD_NAMESPACE", "voice")
	t.Setenv("NODE_NAME", "node-a.example")
	address := freeAddress(t)
	bin := filepath.Join(t.TempDir(), "rtcscale-sidecar")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, "rtcscale-sidecar", []string{"--source", "kamailio", "--url", kamailio.URL + "/RPC", "--interval", "100ms",
			"--nats-url", ns.ClientURL(), "--metrics-bind-address", address, "--copy-binary-to", bin, "--sip-address", "10.1.2.3:5060"})
	}()
	s := next()
	// The binary is there for the server container's preStop hook.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(bin); err != nil || !bytes.Equal(got, want) {
		t.Errorf("--copy-binary-to: %d bytes, %v; want a copy of %s", len(got), err, self)
	}
	if fi, err := os.Stat(bin); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("--copy-binary-to: %v, %v", fi.Mode(), err)
	}
	if v, _ := s.Gauge(sample.GaugeCalls); v != 5 || s.Node != "node-a.example" || s.Interval != 100*time.Millisecond || s.Draining || s.Addr != "10.1.2.3:5060" {
		t.Errorf("sample %+v", s)
	}
	resp, err := http.Get("http://" + address + "/readyz?verbose")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "[+]server ok\n[+]nats ok\nreadyz check passed\n" {
		t.Errorf("/readyz?verbose: %d %q", resp.StatusCode, body)
	}

	// The drain command, as the server container's preStop hook runs it.
	err = Run(context.Background(), "rtcscale-sidecar", []string{"drain", "--address", address, "--timeout", "200ms"})
	if err == nil || !strings.HasPrefix(err.Error(), "drain: 504 Gateway Timeout: not drained within 200ms: calls is 5 (draining for ") ||
		!strings.HasSuffix(err.Error(), "; the server has no drain control; only the samples say draining)") {
		t.Errorf("drain while 5 calls remain: %v", err)
	}
	for s = next(); !s.Draining; s = next() {
	}
	calls.Store(false)
	if err := Run(context.Background(), "rtcscale-sidecar", []string{"drain", "--address", address}); err != nil {
		t.Errorf("drain once the calls are gone: %v", err)
	}
	if s = next(); !s.Draining {
		t.Errorf("a sample after the drain does not say draining: %+v", s)
	}

	// SIGTERM cancels main's context: the command returns cleanly.
	cancel()
	if err := <-done; err != nil {
		t.Errorf("after cancel: %v", err)
	}
}

func TestCommandErrors(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	const kinds = "want one of asterisk, jvb, kamailio, rtpengine"
	for _, c := range []struct {
		args []string
		err  string
	}{
		{[]string{"--pod", "p", "--namespace", "n"}, "--source: none given: " + kinds},
		{[]string{"--source", "freeswitch", "--pod", "p", "--namespace", "n"}, `--source: unknown source "freeswitch": ` + kinds},
		{[]string{"--source", "jvb", "--pod", "P_0", "--namespace", "n"}, "not a DNS label"},
		{[]string{"--source", "jvb", "--pod", "p", "--namespace", "n", "extra"}, "unexpected arguments"},
		{[]string{"--source", "asterisk", "--url", "tcp://127.0.0.1:5038", "--pod", "p", "--namespace", "n"}, "manager user"},
		{[]string{"--source", "jvb", "--pod", "p", "--namespace", "n", "--drain-timeout", "0s"}, "--drain-timeout 0s is not positive"},
		{[]string{"--source", "jvb", "--pod", "p", "--namespace", "n", "--metrics-bind-address", taken.Addr().String()}, "--metrics-bind-address: listen tcp " + taken.Addr().String() + ": bind: address already in use"},
		{[]string{"--source", "jvb", "--pod", "p", "--namespace", "n", "--copy-binary-to", "/nonexistent/rtcscale-sidecar"}, "--copy-binary-to: open /nonexistent/."},
		{[]string{"--source", "asterisk", "--pod", "p", "--namespace", "n", "--sip-address", "10.0.0.1"}, `SIP address "10.0.0.1" is not host:port`},
		{[]string{"--source", "asterisk", "--pod", "p", "--namespace", "n", "--dispatcher-backends", "asterisk"}, "--dispatcher-backends: a dispatcher set is Kamailio's; this sidecar reads asterisk"},
		{[]string{"--source", "kamailio", "--pod", "p", "--namespace", "n", "--dispatcher-backends", "asterisk,asterisk"}, "--dispatcher-backends: backend kind asterisk is listed twice"},
		{[]string{"--source", "kamailio", "--pod", "p", "--namespace", "n", "--dispatcher-backends", "asterisk", "--dispatcher-group", "-1"}, "--dispatcher-backends: dispatcher group -1 is negative"},
		{[]string{"--source", "asterisk", "--pod", "p", "--namespace", "n", "--asterisk-drain", "now"}, `unknown Asterisk drain "now"`},
		{[]string{"drain", "extra"}, `drain: unexpected arguments ["extra"]`},
		{[]string{"drain", "--timeout", "-1s"}, "drain: --timeout -1s is negative"},
		{[]string{"drain", "--address", "http://127.0.0.1:9091"}, `drain: the sidecar's address "http://127.0.0.1:9091" is not host:port`},
		{[]string{"drain", "--address", freeAddress(t)}, "connect: connection refused (is it running, serving on 127.0.0.1:"},
	} {
		if err := Run(context.Background(), "rtcscale-sidecar", c.args); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%q: %v, want an error containing %q", c.args, err, c.err)
		}
	}
}
