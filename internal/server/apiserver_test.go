package server

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/rtcscale/rtcscale/internal/klogtest"
)

func TestAwaitAPIServerLogsUnreachable(t *testing.T) {
	logs := klogtest.Capture(t)
	const url = "https://10.96.0.1:443"
	failures := 2
	probe := func(context.Context) error {
		if failures > 0 {
			failures--
			return errors.New("dial tcp 10.96.0.1:443: connect: connection refused")
		}
		return nil
	}
	awaitAPIServer(context.Background(), url, probe, time.Millisecond, time.Millisecond)
	// klog's -v is 0 in tests: a line captured is one logged by default.
	if n := logs.Count("Kubernetes API server unreachable", url, "connection refused"); n != 2 {
		t.Errorf("%d lines say the API server is unreachable, want 2 (one per failed probe):\n%s", n, logs)
	}
	if n := logs.Count("Reached the Kubernetes API server", url); n != 1 {
		t.Errorf("%d lines say it was reached, want 1:\n%s", n, logs)
	}
}

func TestAwaitAPIServerQuietWhenReachable(t *testing.T) {
	logs := klogtest.Capture(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/version" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(`{"major":"1","minor":"37"}`))
	}))
	defer srv.Close()
	client := kubernetes.NewForConfigOrDie(&rest.Config{Host: srv.URL})
	awaitAPIServer(context.Background(), srv.URL, versionProbe(client, time.Minute), time.Millisecond, time.Millisecond)
	if s := logs.String(); s != "" {
		t.Errorf("a reachable API server is logged:\n%s", s)
	}
}

func TestAwaitAPIServerStopsWithContext(t *testing.T) {
	klogtest.Quiet(t)
	ctx, cancel := context.WithCancel(context.Background())
	probes := 0
	probe := func(context.Context) error {
		probes++
		if probes == 3 {
			cancel()
		}
		return errors.New("no route to host")
	}
	// Returns, or the test times out.
	awaitAPIServer(ctx, "https://kubernetes.default.svc", probe, time.Millisecond, time.Millisecond)
	if probes != 3 {
		t.Errorf("%d probes, want 3: it must stop once the context is done", probes)
	}
}
