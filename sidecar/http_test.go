package sidecar_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rtcscale/rtcscale/sample"
	"github.com/rtcscale/rtcscale/sidecar"
)

func get(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// TestHTTP: the sidecar's port serves its probes, its metrics and drain
// requests, as the kubelet, Prometheus and the drain command use them.
func TestHTTP(t *testing.T) {
	srv := newReplayServer(t)
	src, err := sidecar.New(sample.KindRTPEngine, sidecar.Options{URL: srv.URL + "/metrics"})
	if err != nil {
		t.Fatal(err)
	}
	r := newDrainRig(t, &testDrainer{Source: src})
	port := httptest.NewServer(r.p.Handler(r.reg, time.Hour))
	t.Cleanup(port.Close)
	address := strings.TrimPrefix(port.URL, "http://")
	r.st.nextSampleAfter(time.Time{})

	if code, body := get(t, "GET", port.URL+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := get(t, "GET", port.URL+"/readyz"); code != 200 || body != "ok\n" {
		t.Errorf("/readyz: %d %q", code, body)
	}
	if code, body := get(t, "GET", port.URL+"/readyz?verbose"); code != 200 || body != "[+]server ok\n[+]nats ok\nreadyz check passed\n" {
		t.Errorf("/readyz?verbose: %d %q", code, body)
	}

	// The server fails: not ready, and says why; the failures are counted
	// by reason.
	srv.down.Store(true)
	waitFor(t, "readiness fails", func() (bool, string) {
		code, body := get(t, "GET", port.URL+"/readyz")
		return code == http.StatusServiceUnavailable && strings.HasPrefix(body, "[-]server failed: the latest read (") &&
			strings.HasSuffix(body, `: 503 Service Unavailable: "shutting down"`+"\n[+]nats ok\nreadyz check failed: server\n"), body
	})
	code, body := get(t, "GET", port.URL+"/metrics")
	if code != 200 || !strings.Contains(body, `rtcscale_sidecar_reads_total{result="http_status"} `) || strings.Contains(body, `rtcscale_sidecar_reads_total{result="http_status"} 0`) ||
		!strings.Contains(body, "rtcscale_sidecar_nats_connected 1\n") || !strings.Contains(body, "rtcscale_sidecar_draining 0\n") {
		t.Errorf("/metrics: %d\n%s", code, body)
	}
	srv.down.Store(false)

	// Bad drain requests are refused with a reason.
	for _, c := range []struct {
		method, query string
		code          int
		body          string
	}{
		{"GET", "", http.StatusMethodNotAllowed, "a drain is a POST\n"},
		{"POST", "?timeout=soon", http.StatusBadRequest, "timeout \"soon\" is not a positive duration such as 30m\n"},
		{"POST", "?timeout=-1s", http.StatusBadRequest, "timeout \"-1s\" is not a positive duration such as 30m\n"},
	} {
		if code, body := get(t, c.method, port.URL+sidecar.DrainPath+c.query); code != c.code || body != c.body {
			t.Errorf("%s %s: %d %q, want %d %q", c.method, c.query, code, body, c.code, c.body)
		}
	}
	// A drain is not taken from outside the pod.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", sidecar.DrainPath, nil)
	req.RemoteAddr = "10.1.2.3:41000"
	r.p.Handler(r.reg, time.Hour).ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Errorf("drain from %s: %d %q", req.RemoteAddr, rec.Code, rec.Body)
	}

	// The deadline: the server still carries its 3 calls.
	answer, err := sidecar.RequestDrain(context.Background(), address, 300*time.Millisecond)
	if err == nil || !strings.HasPrefix(err.Error(), "504 Gateway Timeout: not drained within 300ms: calls is 3 (draining for ") ||
		!strings.HasPrefix(answer, "not drained within 300ms: calls is 3") {
		t.Errorf("drain with a deadline: %q, %v", answer, err)
	}
	// Draining shows in the metrics from the request on, and the drain
	// goes on: the next request waits for the same drain.
	const draining = "# HELP rtcscale_sidecar_draining 1 once a drain was requested: every sample since says draining.\n# TYPE rtcscale_sidecar_draining gauge\nrtcscale_sidecar_draining 1\n"
	if err := testutil.ScrapeAndCompare(port.URL+"/metrics", strings.NewReader(draining), "rtcscale_sidecar_draining"); err != nil {
		t.Error(err)
	}
	r.drainingSamples(1, 3)
	srv.empty.Store(true)
	answer, err = sidecar.RequestDrain(context.Background(), address, 0)
	if err != nil || !strings.HasPrefix(answer, "drained: calls is 0 (draining for ") {
		t.Errorf("drain: %q, %v", answer, err)
	}

	if _, err := sidecar.RequestDrain(context.Background(), "http://"+address, 0); err == nil || !strings.Contains(err.Error(), "is not host:port") {
		t.Errorf("a URL for an address: %v", err)
	}
}

// TestHTTPBeforeAndAfterRun: before the first read the server is not
// ready; a drain under way when the sidecar stops is told so.
func TestHTTPBeforeAndAfterRun(t *testing.T) {
	srv := newReplayServer(t)
	src, err := sidecar.New(sample.KindRTPEngine, sidecar.Options{URL: srv.URL + "/metrics"})
	if err != nil {
		t.Fatal(err)
	}
	st := startStack(t, "voice", "rtpengine-0")
	reg := prometheus.NewRegistry()
	p, err := sidecar.NewPublisher(dial(t, st.natsURL, "sidecar"), sidecar.Config{Source: src, Namespace: "voice", Pod: "rtpengine-0", Interval: 100 * time.Millisecond, Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	port := httptest.NewServer(p.Handler(reg, time.Hour))
	t.Cleanup(port.Close)
	if code, body := get(t, "GET", port.URL+"/readyz"); code != http.StatusServiceUnavailable || body != "[-]server failed: the server has not been read yet\n[+]nats ok\nreadyz check failed: server\n" {
		t.Errorf("/readyz before Run: %d %q", code, body)
	}

	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- p.Run(ctx) }()
	type answer struct {
		text string
		err  error
	}
	drained := make(chan answer, 1)
	go func() {
		text, err := sidecar.RequestDrain(context.Background(), strings.TrimPrefix(port.URL, "http://"), 0)
		drained <- answer{text, err}
	}()
	// Once a sample says draining, the request is waiting on the busy
	// server; then the sidecar stops.
	for s := st.nextSampleAfter(time.Time{}); !s.Draining; s = st.nextSampleAfter(time.Time{}) {
	}
	cancel()
	if err := <-ran; err != nil {
		t.Fatalf("Run: %v", err)
	}
	a := <-drained
	if a.err == nil || !strings.HasPrefix(a.err.Error(), "503 Service Unavailable: the sidecar is stopping: calls is 3 (draining for ") {
		t.Errorf("a drain when the sidecar stops: %q, %v", a.text, a.err)
	}
}
