package server

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"sigs.k8s.io/yaml"
)

// configMapDir lays out a folder as the kubelet mounts a ConfigMap: the
// data in a timestamped folder, a ..data symlink to it, and config.yaml a
// symlink through ..data. update swaps ..data atomically, as the kubelet's
// atomic writer does.
type configMapDir struct {
	t   *testing.T
	dir string
	n   int
}

func newConfigMapDir(t *testing.T, content string) *configMapDir {
	d := &configMapDir{t: t, dir: t.TempDir()}
	d.update(content)
	if err := os.Symlink(filepath.Join("..data", "config.yaml"), d.path()); err != nil {
		t.Fatal(err)
	}
	return d
}

func (d *configMapDir) path() string { return filepath.Join(d.dir, "config.yaml") }

func (d *configMapDir) update(content string) {
	d.t.Helper()
	d.n++
	ts := fmt.Sprintf("..2026_01_01_00_00_%02d.%d", d.n, d.n)
	if err := os.Mkdir(filepath.Join(d.dir, ts), 0o755); err != nil {
		d.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.dir, ts, "config.yaml"), []byte(content), 0o644); err != nil {
		d.t.Fatal(err)
	}
	tmp := filepath.Join(d.dir, "..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		d.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(d.dir, "..data")); err != nil {
		d.t.Fatal(err)
	}
}

func TestWatchFileFollowsConfigMapUpdates(t *testing.T) {
	cm := newConfigMapDir(t, "max-series: 10\n")
	initial, err := os.ReadFile(cm.path())
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		maxSeries int
		err       error
	}
	results := make(chan result, 16)
	reg := prometheus.NewRegistry()
	m := newReloadMetrics(reg)
	var maxSeries int
	counted := m.counted(func(content []byte) error {
		var settings struct {
			MaxSeries int `json:"max-series"`
		}
		err := yaml.UnmarshalStrict(content, &settings)
		if err == nil {
			maxSeries = settings.MaxSeries
		}
		return err
	})
	// The result is sent once it is counted, so that the metrics can be
	// read as soon as it arrives.
	apply := func(content []byte) error {
		err := counted(content)
		results <- result{maxSeries, err}
		return err
	}
	if err := watchFile(t.Context(), cm.path(), initial, apply); err != nil {
		t.Fatal(err)
	}
	next := func() result {
		t.Helper()
		select {
		case r := <-results:
			return r
		case <-time.After(time.Minute): // a bound on a hang, not a synchronization
			t.Fatal("the watcher never re-read the file")
			return result{}
		}
	}

	cm.update("max-series: 20\n")
	if r := next(); r.err != nil || r.maxSeries != 20 {
		t.Fatalf("after an update: %v, max-series %d, want 20", r.err, r.maxSeries)
	}
	cm.update("max-series: twenty\n")
	if r := next(); r.err == nil {
		t.Fatalf("an invalid update was accepted")
	}
	if got := testutil.ToFloat64(m.lastOK); got != 0 {
		t.Errorf("rtcscale_config_last_reload_successful %v after a refused reload, want 0", got)
	}
	cm.update("max-series: 30\n")
	if r := next(); r.err != nil || r.maxSeries != 30 {
		t.Fatalf("after a fix: %v, max-series %d, want 30", r.err, r.maxSeries)
	}
	if s, f := testutil.ToFloat64(m.reloads.WithLabelValues("success")), testutil.ToFloat64(m.reloads.WithLabelValues("failure")); s != 2 || f != 1 {
		t.Errorf("reloads: %v successful, %v failed; want 2 and 1", s, f)
	}
	if got := testutil.ToFloat64(m.lastOK); got != 1 {
		t.Errorf("rtcscale_config_last_reload_successful %v, want 1", got)
	}
}
