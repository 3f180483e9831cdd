package main

import (
	"testing"
)

// FuzzLoadSettings: a --config file's content is applied or refused with
// an error, never a panic, and never changes what only the command line
// may set.
func FuzzLoadSettings(f *testing.F) {
	for _, s := range []string{"max-series: 2000000\nstartup-grace: 1m\n", "subject-prefix: x\n", "stale-after: [1]\n", "- a\n", "max-clock-skew: \"2s\"\n", "{}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, content []byte) {
		fs := cmdline(t, "--subject-prefix=tenant.load.v1", "--enable-external-metrics=false")
		cf, err := loadSettings(content, fs)
		if err != nil {
			return
		}
		if cf.subjectPrefix != "tenant.load.v1" || cf.external {
			t.Fatalf("%q changed a restart-only setting: prefix %q, external %v", content, cf.subjectPrefix, cf.external)
		}
	})
}
