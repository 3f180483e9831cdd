package whatif

import (
	"strings"
	"testing"
)

// FuzzParseSweep: a sweep parses into a known setting and non-empty,
// trimmed values, or is an error.
func FuzzParseSweep(f *testing.F) {
	for _, s := range []string{"target=70,80,90", "stabilization=0s, 5m,15m", "lead=", "=1", "target=1,,2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		setting, values, err := ParseSweep(s)
		if err != nil {
			return
		}
		if setting != SweepTarget && setting != SweepLead && setting != SweepStabilization {
			t.Fatalf("%q: setting %q", s, setting)
		}
		if len(values) == 0 {
			t.Fatalf("%q: no values", s)
		}
		for _, v := range values {
			if v == "" || strings.TrimSpace(v) != v || strings.Contains(v, ",") {
				t.Fatalf("%q: value %q", s, v)
			}
		}
	})
}
