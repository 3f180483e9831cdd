package predictor

import (
	"testing"
)

// FuzzParseLeads: a --forecast-lead value parses into leads within
// (0, MaxLead] (0 meaning learned), or is an error.
func FuzzParseLeads(f *testing.F) {
	for _, s := range []string{"default=learned", "voice/asterisk=10m,default=5m", "voice/a=1h,voice/a=2h", "x=y", "voice/a=-1s", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLeads(s)
		if err != nil {
			return
		}
		if l.Default < 0 || l.Default > MaxLead {
			t.Fatalf("%q: default lead %s", s, l.Default)
		}
		for k, d := range l.Workloads {
			if d < 0 || d > MaxLead {
				t.Fatalf("%q: lead %s for %s", s, d, k)
			}
		}
	})
}

// FuzzParseSeriesKey: a history key that parses is one SeriesKey writes.
func FuzzParseSeriesKey(f *testing.F) {
	f.Add("voice/Deployment/asterisk/calls")
	f.Add("voice/StatefulSet/kam.v2/participants")
	f.Add("voice//asterisk/calls")
	f.Fuzz(func(t *testing.T, key string) {
		ns, w, gauge, err := ParseSeriesKey(key)
		if err != nil {
			return
		}
		if again := SeriesKey(ns, w, gauge); again != key {
			t.Fatalf("%q parsed, and writes back as %q", key, again)
		}
	})
}
