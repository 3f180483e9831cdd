package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/spf13/pflag"
)

// cmdline parses args as the adapter's collector flags.
func cmdline(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	var cf collectorFlags
	fs := pflag.NewFlagSet("adapter", pflag.ContinueOnError)
	cf.add(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestLoadSettings(t *testing.T) {
	fs := cmdline(t, "--stale-after=4", "--max-series=1000", "--subject-prefix=tenant.load.v1", "--enable-external-metrics=false")

	cf, err := loadSettings([]byte("max-series: 2000000\nstartup-grace: 1m\nexternal-metrics-all-namespaces: true\nmax-clock-skew: \"2s\"\n"), fs)
	if err != nil {
		t.Fatal(err)
	}
	if cf.store.MaxSeries != 2000000 || cf.store.StartupGrace != time.Minute || !cf.provider.ExternalAllNamespaces || cf.store.MaxFuture != 2*time.Second {
		t.Errorf("the file's settings were not applied: %+v %+v", cf.store, cf.provider)
	}
	if cf.store.StaleAfter != 4 || cf.subjectPrefix != "tenant.load.v1" || cf.external {
		t.Errorf("command-line settings lost: stale-after %v, subject prefix %q, external %v", cf.store.StaleAfter, cf.subjectPrefix, cf.external)
	}
	if cf.store.MaxGaugeNames != 256 {
		t.Errorf("max-gauge-names %d, want the flag's default 256", cf.store.MaxGaugeNames)
	}

	// A setting removed from the file returns to its command-line value.
	cf, err = loadSettings([]byte("startup-grace: 1m\n"), fs)
	if err != nil {
		t.Fatal(err)
	}
	if cf.store.MaxSeries != 1000 {
		t.Errorf("max-series %d after its removal from the file, want the command line's 1000", cf.store.MaxSeries)
	}
	if cf, err = loadSettings(nil, fs); err != nil || cf.store.StaleAfter != 4 {
		t.Errorf("an empty file: %v, stale-after %v", err, cf.store.StaleAfter)
	}

	for content, want := range map[string]string{
		"subject-prefix: x\n":              "only the command line sets it",
		"enable-external-metrics: true":    "only the command line sets it",
		"nats-url: nats://x:4222\n":        "not a setting the config file can change",
		"max-series: lots\n":               "max-series",
		"max-series: 1.5\n":                "max-series",
		"startup-grace: [1m]\n":            "a single value",
		"stale-after:\n":                   "no value",
		"- stale-after: 3\n":               "want a YAML map",
		"stale-after: 3\nstale-after: 4\n": "want a YAML map",
		// Out of range, in the file as on the command line.
		"stale-after: -1\n":        "--stale-after=-1: want a number of publish intervals above 0",
		"max-gauge-names: 65536\n": "--max-gauge-names=65536: want 1 to 65535",
		"startup-grace: 0s\n":      "--startup-grace=0s: want a duration above 0",
	} {
		if _, err := loadSettings([]byte(content), fs); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one containing %q", content, err, want)
		}
	}
}

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

func TestWatchConfigFollowsConfigMapUpdates(t *testing.T) {
	fs := cmdline(t)
	cm := newConfigMapDir(t, "max-series: 10\n")
	initial, err := os.ReadFile(cm.path())
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		cf  collectorFlags
		err error
	}
	results := make(chan result, 16)
	reg := prometheus.NewRegistry()
	m := newConfigMetrics(reg)
	var cf collectorFlags
	counted := m.counted(func(content []byte) (err error) {
		cf, err = loadSettings(content, fs)
		return err
	})
	// The result is sent once it is counted, so that the metrics can be
	// read as soon as it arrives.
	apply := func(content []byte) error {
		err := counted(content)
		results <- result{cf, err}
		return err
	}
	if err := watchConfig(t.Context(), cm.path(), initial, apply); err != nil {
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
	if r := next(); r.err != nil || r.cf.store.MaxSeries != 20 {
		t.Fatalf("after an update: %v, max-series %d, want 20", r.err, r.cf.store.MaxSeries)
	}
	cm.update("max-series: twenty\n")
	if r := next(); r.err == nil {
		t.Fatalf("an invalid update was accepted")
	}
	if got := testutil.ToFloat64(m.lastOK); got != 0 {
		t.Errorf("rtcscale_config_last_reload_successful %v after a refused reload, want 0", got)
	}
	cm.update("max-series: 30\n")
	if r := next(); r.err != nil || r.cf.store.MaxSeries != 30 {
		t.Fatalf("after a fix: %v, max-series %d, want 30", r.err, r.cf.store.MaxSeries)
	}
	if s, f := testutil.ToFloat64(m.reloads.WithLabelValues("success")), testutil.ToFloat64(m.reloads.WithLabelValues("failure")); s != 2 || f != 1 {
		t.Errorf("reloads: %v successful, %v failed; want 2 and 1", s, f)
	}
	if got := testutil.ToFloat64(m.lastOK); got != 1 {
		t.Errorf("rtcscale_config_last_reload_successful %v, want 1", got)
	}
}
