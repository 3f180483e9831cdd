package demo

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDemo runs the README's first command in-process and asks it what its
// printed help tells a newcomer to ask.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan Addrs, 1)
	done := make(chan error, 1)
	var out strings.Builder
	go func() {
		done <- Run(ctx, Config{Listen: "127.0.0.1:0", MetricsListen: "127.0.0.1:0", NATSPort: -1, Interval: 200 * time.Millisecond}, &out, func(a Addrs) { ready <- a })
	}()
	var a Addrs
	select {
	case a = <-ready:
	case err := <-done:
		t.Fatalf("demo stopped before serving: %v", err)
	}
	get := func(path string) (int, string) {
		resp, err := http.Get(a.API + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	cm := "/apis/custom.metrics.k8s.io/v1beta2/namespaces/"
	for path, wantItems := range map[string]int{
		cm + "voice/pods/*/calls?labelSelector=app%3Dasterisk":                                       4,
		cm + "voice/deployments.apps/asterisk/calls":                                                 1,
		cm + "voice/deployments.apps/asterisk/calls_forecast":                                        1,
		cm + "voice/statefulsets.apps/kamailio/calls":                                                1,
		cm + "voice/daemonsets.apps/rtpengine/bitrate_in":                                            1,
		cm + "meet/pods/*/participants":                                                              3,
		cm + "meet/metrics/participants":                                                             1,
		"/apis/external.metrics.k8s.io/v1beta1/namespaces/voice/calls?labelSelector=kind%3Dasterisk": 1,
	} {
		code, body := get(path)
		var l struct{ Items []json.RawMessage }
		if code != 200 || json.Unmarshal([]byte(body), &l) != nil || len(l.Items) != wantItems {
			t.Errorf("%s: %d, want %d items: %s", path, code, wantItems, body)
		}
	}
	resp, err := http.Get(a.Metrics + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", resp, err)
	}
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("demo exited with %v", err)
	}
	for _, want := range []string{"curl -s '" + a.API, "Ctrl-C stops", "Stopping."} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestShapeHasARushHour(t *testing.T) {
	night, rush := Shape(3*time.Hour), Shape(10*time.Hour)
	if night < 0.2 || night > 0.3 || rush != 1 {
		t.Fatalf("night %.2f rush %.2f", night, rush)
	}
}
