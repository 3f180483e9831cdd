package demo

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

const cm = "/apis/custom.metrics.k8s.io/v1beta2/namespaces/"

// runDemo runs the demo in-process on free loopback ports; stop ends it
// and returns what it printed.
func runDemo(t *testing.T, cfg Config) (a Addrs, stop func() string) {
	t.Helper()
	cfg.Listen, cfg.MetricsListen, cfg.NATSPort = "127.0.0.1:0", "127.0.0.1:0", -1
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan Addrs, 1)
	done := make(chan error, 1)
	var out strings.Builder
	go func() { done <- Run(ctx, cfg, &out, func(a Addrs) { ready <- a }) }()
	select {
	case a = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("demo stopped before serving: %v", err)
	}
	return a, func() string {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo exited with %v", err)
		}
		return out.String()
	}
}

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

// TestDemo runs the README's first command in-process and asks it what its
// printed help tells a newcomer to ask.
func TestDemo(t *testing.T) {
	a, stop := runDemo(t, Config{Interval: 200 * time.Millisecond})
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
		code, body := get(t, a.API+path)
		var l struct{ Items []json.RawMessage }
		if code != 200 || json.Unmarshal([]byte(body), &l) != nil || len(l.Items) != wantItems {
			t.Errorf("%s: %d, want %d items: %s", path, code, wantItems, body)
		}
	}
	if code, body := get(t, a.Metrics+"/readyz"); code != 200 {
		t.Fatalf("readyz: %d %s", code, body)
	}
	out := stop()
	for _, want := range []string{"curl -s '" + a.API, cm + "voice/deployments.apps/asterisk/calls_forecast'", "Ctrl-C stops", "Stopping."} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestForecastLeadsTheRush runs the demo with its default 10-minute day and
// asks its metrics API what a newcomer asks: within the demo's first
// minute (06:00 to 08:24 of its simulated clock), before the 10:00 rush,
// the Asterisk Deployment's calls_forecast rises clearly above its calls,
// by 20%. That can only come from the predictor, which learned the rush
// from the days written at start and looks 30 simulated minutes ahead:
// without a forecast calls_forecast is calls, and with a lead of a minute
// it stays within 20% of them.
func TestForecastLeadsTheRush(t *testing.T) {
	a, stop := runDemo(t, Config{Interval: 200 * time.Millisecond})
	defer stop()
	c := a.Clock
	firstMinute := c.At(c.Began.Add(time.Minute))
	const rush = 10 * time.Hour // Shape's morning peak
	asterisk := a.API + cm + "voice/deployments.apps/asterisk/"
	value := func(metric string) float64 {
		t.Helper()
		code, body := get(t, asterisk+metric)
		var l struct {
			Items []struct{ Value resource.Quantity }
		}
		if code != 200 || json.Unmarshal([]byte(body), &l) != nil || len(l.Items) != 1 {
			t.Fatalf("%s: %d %s", metric, code, body)
		}
		return l.Items[0].Value.AsApproximateFloat64()
	}
	var calls, forecast float64
	for {
		now := c.Now()
		if !now.Before(firstMinute) || timeOfDay(now) >= rush {
			t.Fatalf("by simulated %s, a minute into the demo, calls_forecast was %.0f with calls at %.0f: no lead", now.Format("15:04"), forecast, calls)
		}
		// calls_forecast is never below the calls at its query: compare
		// it with the calls just before and after it.
		before := value("calls")
		forecast = value("calls_forecast")
		calls = max(before, value("calls"))
		// 20%: the curve 30 minutes ahead on the morning ramp, which the
		// band and the noise around a shorter lead's forecast do not reach.
		if forecast > 1.2*calls {
			t.Logf("simulated %s, %.1fs into the demo: calls %.0f, calls_forecast %.1f", now.Format("15:04"), time.Since(c.Began).Seconds(), calls, forecast)
			break
		}
		<-c.After(step) // the forecasts move once a simulated minute
	}
	if model := modelOf(t, a.Metrics, "asterisk", "calls"); model == "reactive" || model == "" {
		t.Errorf("model %q serves the Asterisk forecast", model)
	}
}

// modelOf reads the model of a workload's gauge's predictor from the
// demo's self-metrics.
func modelOf(t *testing.T, metrics, workload, gauge string) string {
	t.Helper()
	_, body := get(t, metrics+"/metrics")
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "rtcscale_predictor_model_info{") && strings.Contains(l, `workload="`+workload+`"`) && strings.Contains(l, `gauge="`+gauge+`"`) {
			_, m, _ := strings.Cut(l, `model="`)
			m, _, _ = strings.Cut(m, `"`)
			return m
		}
	}
	return ""
}

func TestShapeHasARushHour(t *testing.T) {
	night, rush := Shape(3*time.Hour), Shape(10*time.Hour)
	if night < 0.2 || night > 0.3 || rush != 1 {
		t.Fatalf("night %.2f rush %.2f", night, rush)
	}
}
