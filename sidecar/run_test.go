package sidecar_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtcscale/rtcscale/sample"
	"github.com/rtcscale/rtcscale/sidecar"
)

// A JVB whose answer the test switches: busy, draining, or failing.
const (
	jvbBusy int32 = iota
	jvbDraining
	jvbDown
)

func TestRun(t *testing.T) {
	const namespace, pod = "meet", "jvb-7f9c-abcde"
	busy, err := os.ReadFile("testdata/jvb-colibri-stats.json")
	if err != nil {
		t.Fatal(err)
	}
	draining, err := os.ReadFile("testdata/jvb-colibri-stats-draining.json")
	if err != nil {
		t.Fatal(err)
	}
	var mode atomic.Int32
	jvb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		switch mode.Load() {
		case jvbBusy:
			w.Write(busy)
		case jvbDraining:
			w.Write(draining)
		default:
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
		}
	}))
	defer jvb.Close()

	st := startStack(t, namespace, pod)
	src, err := sidecar.New(sample.KindJVB, sidecar.Options{URL: jvb.URL + "/colibri/stats"})
	if err != nil {
		t.Fatal(err)
	}
	st.runSidecar(sidecar.Config{Source: src, Namespace: namespace, Pod: pod, Region: "eu-west", Interval: 100 * time.Millisecond})

	s := st.nextSampleAfter(time.Now())
	if s.Kind != sample.KindJVB || s.Namespace != namespace || s.Pod != pod || s.Region != "eu-west" || s.Node != "" || s.Draining {
		t.Errorf("sample %+v does not describe the pod", s)
	}
	if got := gauge(s, sample.GaugeParticipants); got != 10 {
		t.Errorf("participants %v, want 10", got)
	}
	if next := st.nextSampleAfter(s.Time.Add(time.Millisecond)); next.Seq != s.Seq+1 {
		t.Errorf("seq %d after %d", next.Seq, s.Seq)
	}
	st.waitPodValue(namespace, pod, sample.GaugeBitrateOut, 5678000, true)

	mode.Store(jvbDraining)
	waitFor(t, "a draining sample", func() (bool, string) {
		s = st.nextSampleAfter(time.Time{})
		return s.Draining && gauge(s, sample.GaugeParticipants) == 2, "not draining"
	})

	// The bridge fails: nothing is published, so the pod's values go
	// stale and the API stops serving them rather than serve a guess.
	mode.Store(jvbDown)
	st.waitPodValue(namespace, pod, sample.GaugeParticipants, 0, false)
	last := s.Seq
	for len(st.samples) > 0 {
		last = (<-st.samples).Seq
	}
	// Back: publishing resumes, and failed polls used no sequence number.
	mode.Store(jvbBusy)
	s = st.nextSampleAfter(time.Time{})
	if s.Seq != last+1 || gauge(s, sample.GaugeParticipants) != 10 || s.Draining {
		t.Errorf("after the failure: seq %d (last before %d), participants %v, draining %v", s.Seq, last, gauge(s, sample.GaugeParticipants), s.Draining)
	}
	st.waitPodValue(namespace, pod, sample.GaugeParticipants, 10, true)
}

func TestRunRefusesBadConfig(t *testing.T) {
	src, err := sidecar.New(sample.KindJVB, sidecar.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ok := sidecar.Config{Source: src, Namespace: "meet", Pod: "jvb-0", Interval: time.Second}
	for name, c := range map[string]struct {
		change func(*sidecar.Config)
		err    string
	}{
		"no pod":        {func(c *sidecar.Config) { c.Pod = "" }, "POD_NAME"},
		"pod with dots": {func(c *sidecar.Config) { c.Pod = "jvb.0" }, "not a DNS label"},
		"no namespace":  {func(c *sidecar.Config) { c.Namespace = "" }, "POD_NAMESPACE"},
		"node":          {func(c *sidecar.Config) { c.Node = "Node_1" }, "DNS subdomain"},
		"region":        {func(c *sidecar.Config) { c.Region = "eu west" }, "label value"},
		"interval":      {func(c *sidecar.Config) { c.Interval = time.Millisecond }, "outside"},
		"no source":     {func(c *sidecar.Config) { c.Source = nil }, "no source"},
	} {
		cfg := ok
		c.change(&cfg)
		// A refused config never touches NATS, so no connection is needed.
		if _, err := sidecar.NewPublisher(nil, cfg); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: %v, want an error containing %q", name, err, c.err)
		}
	}
}
