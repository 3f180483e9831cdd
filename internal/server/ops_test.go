package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rtcscale/rtcscale/adapter"
	"github.com/rtcscale/rtcscale/collector"
	"github.com/rtcscale/rtcscale/internal/natsconn"
	"github.com/rtcscale/rtcscale/internal/natstest"
	"github.com/rtcscale/rtcscale/internal/ops"
	"github.com/rtcscale/rtcscale/predictor"
	"github.com/rtcscale/rtcscale/sample"
)

// TestReadyzSaysWhyForecastsAreReactive: the adapter's NATS account has no
// JetStream, so the history store cannot be opened. calls_forecast is then
// calls (troubleshooting.md's symptom); /readyz stays 200, its verbose form
// says why, and /metrics has rtcscale_history_store_ready 0 and the failure
// counted. Once a store works, the check is ok and the gauge 1. A check
// that does fail turns /readyz 503 and lists every check.
func TestReadyzSaysWhyForecastsAreReactive(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, collector.Options{})
	live, err := predictor.NewLive(r.Store, predictor.LiveConfig{Gauges: []string{"calls"}}, r.Registry)
	if err != nil {
		t.Fatal(err)
	}
	r.serve(t, adapter.Options{Forecaster: live})
	coreOnly := natstest.Connect(t, natstest.Start(t).ClientURL())
	srv := httptest.NewServer(ops.NewHandler(r.Registry,
		ops.Check{Name: "nats", Check: natsconn.Connected(coreOnly)},
		ops.Check{Name: "samples", Check: r.sub.Ready},
		ops.Check{Name: "history", Check: live.StoreStatus, Warn: true}))
	t.Cleanup(srv.Close)
	if err := live.Attach(ctx, predictor.StoreOpener(coreOnly, predictor.StoreConfig{})); err == nil {
		t.Fatal("a history store opened without JetStream")
	}

	pods := r.deployment("voice", "asterisk", 2)
	eventually(t, "informers see the pods", func() (bool, string) { return r.Store.Stats().KnownPods == 2, "" })
	r.publish(sample.KindAsterisk, "voice", "calls", map[string]float64{pods[0]: 10, pods[1]: 20})
	var l metricValueList
	eventually(t, "calls_forecast", func() (bool, string) {
		code, body := r.get(cm2+"/namespaces/voice/deployments.apps/asterisk/calls_forecast", &l)
		return code == 200 && len(l.Items) == 1, body
	})
	if v := value(t, l.Items[0].Value); v != 30 {
		t.Fatalf("calls_forecast %v, want calls, 30", v)
	}

	if code, body := status(t, srv.URL+"/readyz"); code != 200 || body != "ok\n" {
		t.Fatalf("/readyz: %d %q, want 200 ok: forecasts without history are reactive, not wrong", code, body)
	}
	code, body := status(t, srv.URL+"/readyz?verbose")
	want := "[+]nats ok\n[+]samples ok\n[!]history warning (ready nonetheless): forecasts are reactive: history stream RTCSCALE_HISTORY: "
	if code != 200 || !strings.HasPrefix(body, want) || !strings.Contains(body, "JetStream is not enabled for the adapter's NATS account") ||
		!strings.HasSuffix(body, "\nreadyz check passed\n") {
		t.Fatalf("/readyz?verbose: %d\n%s", code, body)
	}
	const failed = `
# HELP rtcscale_history_store_ready 1 once the JetStream history store is opened and loaded; 0 while it is not, and forecasts are reactive (<gauge>_forecast equals <gauge>).
# TYPE rtcscale_history_store_ready gauge
rtcscale_history_store_ready 0
# HELP rtcscale_history_store_errors_total Failed attempts to open and load the JetStream history store, by reason (permissions, jetstream_disabled, jetstream_error, unavailable, other); forecasts are reactive until one succeeds.
# TYPE rtcscale_history_store_errors_total counter
rtcscale_history_store_errors_total{reason="jetstream_disabled"} 1
rtcscale_history_store_errors_total{reason="jetstream_error"} 0
rtcscale_history_store_errors_total{reason="other"} 0
rtcscale_history_store_errors_total{reason="permissions"} 0
rtcscale_history_store_errors_total{reason="unavailable"} 0
`
	if err := testutil.ScrapeAndCompare(srv.URL+"/metrics", strings.NewReader(failed), "rtcscale_history_store_ready", "rtcscale_history_store_errors_total"); err != nil {
		t.Error(err)
	}

	// A NATS account with JetStream: the store works.
	if err := live.Attach(ctx, predictor.StoreOpener(r.nc, predictor.StoreConfig{})); err != nil {
		t.Fatal(err)
	}
	if code, body := status(t, srv.URL+"/readyz?verbose"); code != 200 || !strings.Contains(body, "\n[+]history ok\n") {
		t.Fatalf("/readyz?verbose once the store works: %d\n%s", code, body)
	}
	ready := strings.Replace(failed[:strings.Index(failed, "# HELP rtcscale_history_store_errors_total")], "ready 0", "ready 1", 1)
	if err := testutil.ScrapeAndCompare(srv.URL+"/metrics", strings.NewReader(ready), "rtcscale_history_store_ready"); err != nil {
		t.Error(err)
	}

	// A failing check fails readiness and lists every check.
	coreOnly.Close()
	code, body = status(t, srv.URL+"/readyz")
	if code != http.StatusServiceUnavailable || body != "[-]nats failed: NATS is CLOSED\n[+]samples ok\n[+]history ok\nreadyz check failed: nats\n" {
		t.Fatalf("/readyz with NATS closed: %d\n%s", code, body)
	}
}
