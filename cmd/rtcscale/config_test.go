package main

import (
	"strings"
	"testing"
	"time"

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
