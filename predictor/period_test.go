package predictor

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/rtcscale/rtcscale/trace"
)

// readShared reads a trace of testdata/traces at its native step.
func readShared(t testing.TB, name string) ([]float64, trace.Series) {
	t.Helper()
	s, err := trace.ReadFile(filepath.Join(trace.Dir(), name))
	if err != nil {
		t.Fatalf("trace %s unavailable (testdata/traces at the repository's root): %v", name, err)
	}
	y, err := s.Resample(s.Step())
	if err != nil {
		t.Fatal(err)
	}
	return y, s
}

// TestDetectPeriodicityCrane checks the labels the crane traces carry in
// their names.
func TestDetectPeriodicityCrane(t *testing.T) {
	for _, name := range []string{"crane_input1_day.csv", "crane_input9_day.csv", "crane_input8_week.csv", "crane_input4_none.csv", "nyc_taxi.csv", "art_daily_small_noise.csv"} {
		y, s := readShared(t, name)
		want := Weekly
		switch {
		case strings.Contains(name, "_day"), strings.HasPrefix(name, "art_daily"):
			want = Daily
		case strings.Contains(name, "_none"):
			want = None
		}
		if got := DetectPeriodicity(y, s.Step()); got != want {
			t.Errorf("%s: detected %s, want %s", name, got, want)
		}
	}
}
