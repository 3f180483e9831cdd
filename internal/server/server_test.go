package server

import (
	"context"
	"net"
	"strings"
	"testing"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/rtcscale/rtcscale/collector"
	"github.com/rtcscale/rtcscale/internal/natsconn"
)

// TestServerRuns builds the graph over a real NATS server and client-go's
// in-memory cluster, runs it behind the local API, and stops it: Ready
// comes once the informers synced and the samples are subscribed to, both
// ports serve, and a cancelled context is a clean stop.
func TestServerRuns(t *testing.T) {
	r := newRig(t, collector.Options{})
	if code, body := status(t, r.ops+"/readyz?verbose"); code != 200 || !strings.Contains(body, "[+]informers ok") || !strings.Contains(body, "[+]samples ok") {
		t.Errorf("readyz: %d %s", code, body)
	}
	if code, body := r.get("/apis/external.metrics.k8s.io/v1beta1", nil); code != 200 {
		t.Errorf("external metrics API: %d %s", code, body)
	}
	// A second replica on its own context, to see Run's end.
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, done, err := Config{Client: r.client, NATS: natsconn.Options{URL: r.url}, MetricsAddress: "127.0.0.1:0"}.StartLocal(ctx, ln)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after its context ended: %v, want nil", err)
	}
}

// TestCompleteRefusesAPortInUse: a self-metrics address in use is an error
// before anything runs, not a log line once the adapter serves.
func TestCompleteRefusesAPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = Config{Client: fake.NewClientset(), MetricsAddress: ln.Addr().String()}.Complete()
	if err == nil || !strings.Contains(err.Error(), "serving self-metrics") {
		t.Fatalf("Complete with %s in use: %v", ln.Addr(), err)
	}
}
