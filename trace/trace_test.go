package trace

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReadForms(t *testing.T) {
	for name, in := range map[string]string{
		"datetime header": "timestamp,value\n2014-07-01 00:00:00,10\n2014-07-01 00:30:00,20\n",
		"unix header":     "ts,value\n1404172800,10\n1404174600,20\n",
		"no header":       "1404172800,10\n1404174600,20\n",
		"rfc3339":         "2014-07-01T00:00:00Z,10\n2014-07-01T00:30:00Z,20\n",
		"unsorted":        "1404174600,20\n1404172800,10\n",
	} {
		s, err := Read(strings.NewReader(in))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(s) != 2 || s[0].V != 10 || s[1].V != 20 {
			t.Fatalf("%s: got %+v", name, s)
		}
		if want := time.Date(2014, 7, 1, 0, 0, 0, 0, time.UTC); !s[0].T.Equal(want) {
			t.Fatalf("%s: first time %s, want %s", name, s[0].T, want)
		}
		if s.Step() != 30*time.Minute {
			t.Fatalf("%s: step %s", name, s.Step())
		}
	}
}

func TestReadRejects(t *testing.T) {
	for name, in := range map[string]string{
		"negative":  "1,10\n2,-1\n",
		"nan":       "1,10\n2,NaN\n",
		"inf":       "1,10\n2,+Inf\n",
		"one row":   "1,10\n",
		"bad time":  "1,10\nyesterday,3\n",
		"one col":   "1,10\n2\n",
		"duplicate": "1,10\n1,11\n",
	} {
		if _, err := Read(strings.NewReader(in)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestResampleInterpolates(t *testing.T) {
	s, err := Read(strings.NewReader("0,0\n60,60\n180,0\n"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Resample(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{0, 30, 60, 45, 30, 15, 0}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if _, err := s.Resample(0); err == nil {
		t.Fatal("zero step accepted")
	}
}

func TestScaleToPeak(t *testing.T) {
	s := Series{{V: 1}, {V: 4}, {V: 2}}.ScaleToPeak(100)
	if s[0].V != 25 || s[1].V != 100 || s[2].V != 50 {
		t.Fatalf("got %+v", s)
	}
	if z := (Series{{V: 0}, {V: 0}}).ScaleToPeak(10); z[1].V != 0 {
		t.Fatalf("zeros scaled to %v", z[1].V)
	}
}

// TestSharedTraces reads every trace of testdata/traces; they are the inputs of the
// predictor's and the replay's own tests.
func TestSharedTraces(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(Dir(), "*.csv"))
	if len(files) == 0 {
		t.Fatalf("no traces at %s (testdata/traces at the repository's root)", Dir())
	}
	for _, f := range files {
		s, err := ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if s.Step() <= 0 || len(s) < 1000 {
			t.Errorf("%s: %d points, step %s", f, len(s), s.Step())
		}
	}
}

func TestSharedDirEnv(t *testing.T) {
	t.Setenv("RTCSCALE_TRACES", os.TempDir())
	if Dir() != os.TempDir() {
		t.Fatal("RTCSCALE_TRACES ignored")
	}
}
