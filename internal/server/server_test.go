package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/rtcscale/rtcscale/internal/natsconn"
	"github.com/rtcscale/rtcscale/internal/natstest"
	"github.com/rtcscale/rtcscale/sample"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServerRuns builds the graph over a real NATS server and client-go's
// in-memory cluster, runs it behind the local API, and stops it: Ready
// comes once the informers synced and the samples are subscribed to, both
// ports serve, and a cancelled context is a clean stop.
func TestServerRuns(t *testing.T) {
	ns := natstest.Start(t)
	s, err := Config{
		SubjectPrefix: sample.DefaultSubjectPrefix, ExternalMetrics: true,
		Client:         fake.NewClientset(),
		NATS:           natsconn.Options{URL: ns.ClientURL(), Name: "test"},
		MetricsAddress: "127.0.0.1:0",
	}.Complete()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	api, err := LocalAPI(ln, s)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, api) }()
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("stopped before it was ready: %v", err)
	}
	if code, body := get(t, "http://"+s.MetricsAddr().String()+"/readyz?verbose"); code != 200 || !strings.Contains(body, "[+]informers ok") || !strings.Contains(body, "[+]samples ok") {
		t.Errorf("readyz: %d %s", code, body)
	}
	if code, body := get(t, "http://"+ln.Addr().String()+"/apis/external.metrics.k8s.io/v1beta1"); code != 200 {
		t.Errorf("external metrics API: %d %s", code, body)
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
