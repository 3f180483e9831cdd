package server

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rtcscale/rtcscale/collector"
	"github.com/rtcscale/rtcscale/sample"
)

// TestEveryRejectionThroughNATS publishes, over a real NATS server, a
// message that breaks each rule of the wire format and of the store, and
// checks that each is refused and counted under its own reason, and that
// nothing the adapter serves changed: not a value, a timestamp, a pod list
// or a discovery entry.
func TestEveryRejectionThroughNATS(t *testing.T) {
	// Four known pods' series fill both their limits, one unknown pod's
	// both of theirs; one gauge name fills that limit.
	r := newRig(t, collector.Options{MaxSeries: 4, MaxSeriesPerNamespace: 4, MaxUnknownSeries: 1, MaxUnknownSeriesPerNamespace: 1,
		MaxGaugeNames: 1, MaxFuture: 10 * time.Second})
	pods := r.deployment("voice", "asterisk", 4)
	r.pod("voice", "sbc-0", "sbc", "StatefulSet", "sbc") // a fifth known pod, over the limit
	eventually(t, "informers see the pods", func() (bool, string) { return r.Store.Stats().KnownPods == 5, "" })

	now := time.Now().Truncate(time.Millisecond)
	good := func(pod string) sample.Sample {
		return sample.Sample{Kind: sample.KindAsterisk, Namespace: "voice", Pod: pod, Region: "eu-west", Time: now, Seq: 7,
			Interval: 5 * time.Second, Gauges: []sample.Gauge{{Name: "calls", Value: 3}}}
	}
	subject := func(s sample.Sample) string { return s.Subject(sample.DefaultSubjectPrefix) }
	for _, p := range append(pods, "ghost-0") {
		s := good(p)
		if err := r.nc.Publish(subject(s), s.AppendJSON(nil)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "baseline stored", func() (bool, string) { return r.Store.Stats().Fresh == 5, "" })
	before := r.snapshot()

	// Each case: a subject and a body, built from a good sample of pod 0.
	type msg struct{ subject, body string }
	edit := func(change func(*sample.Sample)) msg {
		s := good(pods[0])
		change(&s)
		return msg{subject(good(pods[0])), string(s.AppendJSON(nil))}
	}
	raw := func(old, new string) msg {
		s := good(pods[0])
		body := string(s.AppendJSON(nil))
		if !strings.Contains(body, old) {
			t.Fatalf("test bug: %q not in %s", old, body)
		}
		return msg{subject(s), strings.Replace(body, old, new, 1)}
	}
	many := make([]sample.Gauge, sample.MaxGauges+1)
	for i := range many {
		many[i] = sample.Gauge{Name: fmt.Sprintf("g%d", i), Value: 1}
	}
	later := now.Add(time.Millisecond)
	cases := map[sample.Reason][]msg{
		sample.ReasonTooLarge: {raw(`"v":1`, `"v":1,"pad":"`+strings.Repeat("x", sample.MaxSize)+`"`)},
		// NaN and infinities are not JSON numbers: malformed.
		sample.ReasonMalformed: {{subject(good(pods[0])), `{"v":1,`}, raw(`"calls":3`, `"calls":Infinity`), raw(`"seq":7`, `"seq":-7`),
			raw(`"calls":3`, `"calls":NaN`), raw(`"calls":3`, `"calls":inf`)},
		sample.ReasonVersion:   {raw(`"v":1`, `"v":2`)},
		sample.ReasonKind:      {raw(`"asterisk"`, `"sipserver"`)},
		sample.ReasonNamespace: {raw(`"namespace":"voice"`, `"namespace":"Voice"`)},
		sample.ReasonPod:       {raw(`"pod":"`+pods[0]+`"`, `"pod":"`+pods[0]+`.x"`), raw(`"pod":"`+pods[0]+`"`, `"pod":"*"`)},
		sample.ReasonNode:      {edit(func(s *sample.Sample) { s.Node = "node_1" })},
		// Label injection: a region or a gauge name that would break out
		// of a label value or a metric name.
		sample.ReasonRegion:         {raw(`"region":"eu-west"`, `"region":"eu\",pod=\"other"`)},
		sample.ReasonAddr:           {edit(func(s *sample.Sample) { s.Addr = "10.1.2.3" }), edit(func(s *sample.Sample) { s.Addr = "10.1.2.3:70000" })},
		sample.ReasonGaugeName:      {raw(`"calls"`, `"calls{pod=\"other\"}"`), raw(`"calls"`, `"calls_avg"`)},
		sample.ReasonTimestamp:      {raw(fmt.Sprint(now.UnixMilli()), "-1"), raw(fmt.Sprint(now.UnixMilli()), "253402300800000")},
		sample.ReasonInterval:       {edit(func(s *sample.Sample) { s.Interval = 10 * time.Millisecond })},
		sample.ReasonNoGauges:       {edit(func(s *sample.Sample) { s.Gauges = nil })},
		sample.ReasonTooManyGauges:  {edit(func(s *sample.Sample) { s.Gauges = many })},
		sample.ReasonDuplicateGauge: {raw(`{"calls":3}`, `{"calls":3,"calls":4}`)},
		sample.ReasonValue: {edit(func(s *sample.Sample) { s.Gauges[0].Value = -1 }), edit(func(s *sample.Sample) { s.Gauges[0].Value = 1e300 }),
			raw(`"calls":3`, `"calls":"3"`), raw(`"calls":3`, `"calls":1e999`)},
		sample.ReasonSubjectMismatch: {{subject(good(pods[1])), raw(`"calls":3`, `"calls":300`).body}},
		sample.ReasonFuture:          {edit(func(s *sample.Sample) { s.Time = now.Add(time.Hour) })},
		sample.ReasonTooOld:          {edit(func(s *sample.Sample) { s.Time = now.Add(-time.Hour) })},
		sample.ReasonOutOfOrder:      {edit(func(s *sample.Sample) { s.Time = now.Add(-time.Second) })},
		// The same time and sequence, or the same time and an older one.
		sample.ReasonDuplicate: {edit(func(s *sample.Sample) {}), edit(func(s *sample.Sample) { s.Seq = 6 })},
		sample.ReasonSeriesLimit: {
			{subject(good("sbc-0")), func() string { s := good("sbc-0"); return string(s.AppendJSON(nil)) }()},
			{subject(good("asterisk-7c9-9")), func() string { s := good("asterisk-7c9-9"); return string(s.AppendJSON(nil)) }()},
			{"rtcscale.load.v1.meet.jvb.jvb-0", `{"v":1,"kind":"jvb","namespace":"meet","pod":"jvb-0","ts_ms":` + fmt.Sprint(now.UnixMilli()) + `,"interval_ms":5000,"gauges":{"calls":1}}`},
		},
		sample.ReasonGaugeNameLimit: {edit(func(s *sample.Sample) { s.Time = later; s.Gauges = []sample.Gauge{{Name: "channels", Value: 1}} })},
	}
	for reason := sample.Accepted + 1; reason < sample.NumReasons; reason++ {
		if len(cases[reason]) == 0 {
			t.Fatalf("no case for reason %s: add one", reason)
		}
	}
	for _, ms := range cases {
		for _, m := range ms {
			if err := r.nc.Publish(m.subject, []byte(m.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := r.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "every rejection counted under its reason", func() (bool, string) {
		var wrong []string
		for reason, ms := range cases {
			if got := counterValue(r.Registry, "rtcscale_samples_rejected_total", reason.String()); got != float64(len(ms)) {
				wrong = append(wrong, fmt.Sprintf("%s=%v (want %d)", reason, got, len(ms)))
			}
		}
		return len(wrong) == 0, strings.Join(wrong, " ")
	})
	if got := counterValue(r.Registry, "rtcscale_samples_accepted_total", ""); got != 5 {
		t.Fatalf("accepted %v, want the 5 good samples only", got)
	}
	if after := r.snapshot(); after != before {
		t.Fatalf("bad input changed what is served:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// snapshot is everything the adapter serves about namespace voice, and
// what its store holds.
func (r *rig) snapshot() string {
	r.t.Helper()
	var b strings.Builder
	for _, q := range append(queries, cm2, "/apis/external.metrics.k8s.io/v1beta1") {
		code, body := r.get(q, nil)
		fmt.Fprintf(&b, "%s %d %s\n", q, code, body)
	}
	fmt.Fprintf(&b, "%+v %v\n", r.Store.Stats(), r.Store.Gauges())
	return b.String()
}
