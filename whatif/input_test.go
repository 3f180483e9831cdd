package whatif

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rtcscale/rtcscale/hpasim"
	"github.com/rtcscale/rtcscale/trace"
)

// TestNewConfig: a trace is scaled and resampled to the sync period, and
// every mistake in the input is refused with what to change.
func TestNewConfig(t *testing.T) {
	t0 := time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)
	series := trace.Series{{T: t0, V: 10}, {T: t0.Add(time.Hour), V: 20}}
	ctrl := hpasim.Config{SyncPeriod: 15 * time.Second}
	in := func(change func(*Input)) Input {
		f, err := os.Open("testdata/kamailio-hpa.yaml")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		i := Input{Series: series, Peak: 100, HPA: f, HPAName: "kamailio-hpa.yaml", Controller: ctrl}
		if change != nil {
			change(&i)
		}
		return i
	}
	cfg, err := NewConfig(in(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Step != ctrl.SyncPeriod || len(cfg.Demand) != 241 || cfg.Demand[len(cfg.Demand)-1] != 100 || !cfg.Start.Equal(t0) {
		t.Errorf("step %s, %d values ending at %v from %s; want 15s, 241 ending at the peak 100 from %s", cfg.Step, len(cfg.Demand), cfg.Demand[len(cfg.Demand)-1], cfg.Start, t0)
	}
	for want, change := range map[string]func(*Input){
		"no samples":                      func(i *Input) { i.Series = nil },
		"both scale the trace":            func(i *Input) { i.P99 = 50 },
		"want a positive number of calls": func(i *Input) { i.Peak = -1 },
		"--sync-period 0s":                func(i *Input) { i.Controller.SyncPeriod = 0 },
		"kamailio-hpa.yaml:":              func(i *Input) { i.HPA = strings.NewReader("kind: Deployment") },
	} {
		if _, err := NewConfig(in(change)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", want, err)
		}
	}
}
