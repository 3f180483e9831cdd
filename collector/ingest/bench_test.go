package ingest

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rtcscale/rtcscale/collector"
	"github.com/rtcscale/rtcscale/internal/natstest"
	"github.com/rtcscale/rtcscale/sample"
)

// fleetMessages encodes one sample per pod, as a fleet of Asterisk pods
// publishes them: four gauges each.
func fleetMessages(pods int, at time.Time) (subjects []string, bodies [][]byte) {
	for i := range pods {
		s := sample.Sample{Kind: sample.KindAsterisk, Namespace: "voice", Pod: fmt.Sprintf("asterisk-6f9c8d7b5-%06d", i),
			Node: "node-1", Region: "eu-west-1", Time: at, Seq: 1, Interval: 5 * time.Second,
			Gauges: []sample.Gauge{{Name: "calls", Value: 41}, {Name: "channels", Value: 82}, {Name: "bitrate_in", Value: 6.56e6}, {Name: "bitrate_out", Value: 6.56e6}}}
		subjects = append(subjects, s.Subject(sample.DefaultSubjectPrefix))
		bodies = append(bodies, s.AppendJSON(nil))
	}
	return subjects, bodies
}

// BenchmarkIngest measures decode + validate + store of one sample on one
// core: what every NATS message costs the collector. As in steady state,
// every pod already has a series and each sample is newer than its last.
func BenchmarkIngest(b *testing.B) {
	const pods, rounds = 1000, 64
	now := time.Now()
	var subjects []string
	msgs := make([][][]byte, rounds)
	for r := range msgs {
		subjects, msgs[r] = fleetMessages(pods, now.Add(time.Duration(r)*time.Millisecond))
	}
	var sub *Subscriber
	fresh := func() {
		sub = NewSubscriber(collector.NewStore(collector.Options{Now: func() time.Time { return now }}, nil), sample.DefaultSubjectPrefix, nil)
		for i := range pods {
			sub.HandleMessage(subjects[i], msgs[0][i])
		}
	}
	fresh()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, p := 1+(i/pods)%(rounds-1), i%pods
		if r == 1 && p == 0 && i > 0 {
			// Every round has been sent once: start over on a new store.
			b.StopTimer()
			fresh()
			b.StartTimer()
		}
		if got := sub.HandleMessage(subjects[p], msgs[r][p]); got != sample.Accepted {
			b.Fatalf("rejected: %s", got)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "samples/s")
}

// BenchmarkNATS sends samples through a real nats-server on loopback. "raw"
// is a plain nats.go subscriber that only counts: the ceiling. "collector"
// decodes and stores each one. Both run in the same process and server, and
// the publisher encodes every sample anew (each newer than the pod's last)
// in both, so their ratio is what the collector costs end to end.
func BenchmarkNATS(b *testing.B) {
	srv := natstest.Start(b)
	const pods = 10000
	now := time.Now()
	subjects, _ := fleetMessages(pods, now)
	store := collector.NewStore(collector.Options{MaxFuture: time.Hour, StaleAfter: 1e6}, nil)
	col := NewSubscriber(store, sample.DefaultSubjectPrefix, nil)
	smp := sample.Sample{Kind: sample.KindAsterisk, Namespace: "voice", Node: "node-1", Region: "eu-west-1", Time: now, Interval: 5 * time.Second,
		Gauges: []sample.Gauge{{Name: "calls", Value: 41}, {Name: "channels", Value: 82}, {Name: "bitrate_in", Value: 6.56e6}, {Name: "bitrate_out", Value: 6.56e6}}}
	var buf []byte
	var seq uint64
	for _, mode := range []string{"raw", "collector"} {
		b.Run(mode, func(b *testing.B) {
			subConn := natstest.Connect(b, srv.ClientURL())
			pubConn := natstest.Connect(b, srv.ClientURL())
			done := make(chan struct{})
			received := 0
			handle := func(subject string, data []byte) {
				if mode == "collector" {
					col.HandleMessage(subject, data)
				}
				received++
				if received == b.N {
					close(done)
				}
			}
			sub, err := subConn.Subscribe(sample.DefaultSubjectPrefix+".>", func(m *nats.Msg) { handle(m.Subject, m.Data) })
			if err != nil {
				b.Fatal(err)
			}
			if err := sub.SetPendingLimits(-1, -1); err != nil {
				b.Fatal(err)
			}
			if err := subConn.Flush(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				seq++
				smp.Pod, smp.Seq = subjects[i%pods][len(sample.DefaultSubjectPrefix+".voice.asterisk."):], seq
				buf = smp.AppendJSON(buf[:0])
				if err := pubConn.Publish(subjects[i%pods], buf); err != nil {
					b.Fatal(err)
				}
			}
			if err := pubConn.Flush(); err != nil {
				b.Fatal(err)
			}
			<-done
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "samples/s")
			sub.Unsubscribe()
		})
	}
}
