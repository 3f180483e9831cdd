package whatif

import (
	"slices"
	"strings"
	"testing"
)

// FuzzParseSweep: a sweep parses into a known setting and non-empty,
// trimmed values, or is an error.
func FuzzParseSweep(f *testing.F) {
	for _, s := range []string{"target=70,80,90", "stabilization=0s, 5m,15m", "lead=", "=1", "target=1,,2", "target=50,55,...,115", "lead=1m,2m,...,10m", "forecast-target=1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sw, err := ParseSweep(s)
		if err != nil {
			return
		}
		if !slices.Contains(sweepSettings, sw.Setting) {
			t.Fatalf("%q: setting %q", s, sw.Setting)
		}
		if len(sw.Values) == 0 || len(sw.Values) > maxSweepValues {
			t.Fatalf("%q: %d values", s, len(sw.Values))
		}
		for _, v := range sw.Values {
			if v == "" || strings.TrimSpace(v) != v || strings.Contains(v, ",") {
				t.Fatalf("%q: value %q", s, v)
			}
		}
	})
}
