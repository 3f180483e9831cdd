package ingest

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/rtcscale/rtcscale/collector"
	"github.com/rtcscale/rtcscale/internal/klogtest"
	"github.com/rtcscale/rtcscale/sample"
)

// FuzzHandleMessage feeds arbitrary subjects and payloads to a Subscriber
// over a store near its limits: a message is either stored as its pod's
// latest, readable back, or refused with nothing in the store changed.
func FuzzHandleMessage(f *testing.F) {
	good := smp("voice", "a-1", t0, calls(4), sample.Gauge{Name: "channels", Value: 8})
	f.Add(good.Subject(sample.DefaultSubjectPrefix), good.AppendJSON(nil))
	other := smp("voice", "b-1", t0.Add(-20e9), calls(1))
	f.Add(other.Subject(sample.DefaultSubjectPrefix), other.AppendJSON(nil))
	f.Add("rtcscale.load.v1.voice.asterisk", []byte(`{"v":1}`))
	f.Add("rtcscale.load.v1.meet.jvb.jvb-0", []byte(`{"v":1,"kind":"jvb","namespace":"meet","pod":"jvb-0","ts_ms":1795334400000,"interval_ms":100,"gauges":{"stress":0.5,"a":1,"b":2,"c":3}}`))
	// A refusal's log line costs more than the rest of an execution.
	klogtest.Quiet(f)
	f.Fuzz(func(t *testing.T, subject string, data []byte) {
		s, _ := newTestStore(collector.Options{MaxSeries: 3, MaxSeriesPerNamespace: 2, MaxGaugeNames: 4})
		s.UpsertPod(readyPod("voice", "a-1", "a", collector.Workload{}))
		sub := NewSubscriber(s, sample.DefaultSubjectPrefix, nil)
		for _, p := range []string{"a-1", "a-2"} {
			x := smp("voice", p, t0.Add(-1e9), calls(2))
			if r := sub.HandleMessage(x.Subject(sample.DefaultSubjectPrefix), x.AppendJSON(nil)); r != sample.Accepted {
				t.Fatalf("baseline refused: %s", r)
			}
		}
		before := storeState(s)
		r := sub.HandleMessage(subject, data)
		if r != sample.Accepted {
			if after := storeState(s); after != before {
				t.Fatalf("refused (%s) yet the store changed:\n%s\n%s", r, before, after)
			}
			return
		}
		var d sample.Decoder
		var x sample.Sample
		if d.Decode(data, &x) != sample.Accepted {
			t.Fatal("accepted by the subscriber, refused by a decoder")
		}
		sel := labels.SelectorFromSet(labels.Set{collector.LabelPod: x.Pod})
		for _, g := range x.Gauges {
			a, _ := s.SeriesAggregate(x.Namespace, sel, g.Name)
			if a.Count != 1 || a.Sum != g.Value || !a.Oldest.Equal(x.Time) {
				t.Fatalf("stored %s/%s %s=%v at %s, read back %+v", x.Namespace, x.Pod, g.Name, g.Value, x.Time, a)
			}
		}
	})
}

// storeState is what a store serves: its counts, gauge names, and every
// gauge's aggregate over every namespace.
func storeState(s *collector.Store) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%+v %v", s.Stats(), s.Gauges())
	for _, g := range s.Gauges() {
		a, c := s.SeriesAggregate("", labels.Everything(), g)
		fmt.Fprintf(&b, " %s:%+v/%+v", g, a, c)
	}
	return b.String()
}
