package main

import (
	"context"
	"fmt"
	"github.com/spf13/pflag"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtcscale/rtcscale/predictor"
	"github.com/rtcscale/rtcscale/trace"
)

// historySource is a workload's recorded history in the adapter's
// JetStream store, as the load of a replay.
type historySource struct {
	url, creds, workload, gauge string
	store                       predictor.StoreConfig
}

func (h *historySource) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&h.url, "history", "", "replay a workload's history recorded by the adapter instead of a trace: the NATS server URL (with JetStream) it records to")
	fs.StringVar(&h.creds, "nats-creds", "", "NATS credentials file for --history")
	fs.StringVar(&h.workload, "workload", "", "with --history: the workload, namespace/name")
	fs.StringVar(&h.gauge, "gauge", "calls", "with --history: the gauge")
	fs.StringVar(&h.store.Stream, "history-stream", "RTCSCALE_HISTORY", "with --history: the adapter's history stream")
}

func (h *historySource) String() string {
	return fmt.Sprintf("%s of %s (history in %s)", h.gauge, h.workload, h.url)
}

// read loads the stream and returns the workload's history as a trace, one
// point a minute where it has a value (a replay bridges gaps linearly).
func (h *historySource) read(ctx context.Context) (trace.Series, error) {
	ns, name, ok := strings.Cut(h.workload, "/")
	if !ok || ns == "" || name == "" {
		return nil, fmt.Errorf("--workload %q: want namespace/name", h.workload)
	}
	opts := []nats.Option{nats.Name("rtcscale-whatif")}
	if h.creds != "" {
		opts = append(opts, nats.UserCredentials(h.creds))
	}
	nc, err := nats.Connect(h.url, opts...)
	if err != nil {
		return nil, fmt.Errorf("--history: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	hs, _, err := predictor.ReadStore(js, h.store).Load(ctx, time.Minute, 5*7*24*60)
	if err != nil {
		return nil, fmt.Errorf("--history: %w", err)
	}
	var match, all []string
	for key := range hs {
		kns, w, gauge, err := predictor.ParseSeriesKey(key)
		if err != nil {
			continue
		}
		all = append(all, key)
		if kns == ns && w.Name == name && gauge == h.gauge {
			match = append(match, key)
		}
	}
	sort.Strings(all)
	switch {
	case len(match) == 0:
		return nil, fmt.Errorf("no history of %s of %s in %s; it holds: %s", h.gauge, h.workload, h.store.Stream, strings.Join(all, ", "))
	case len(match) > 1:
		sort.Strings(match)
		return nil, fmt.Errorf("several workloads are named %s: %s", h.workload, strings.Join(match, ", "))
	}
	y, t0 := hs[match[0]].Snapshot(nil)
	var s trace.Series
	for i, v := range y {
		if !math.IsNaN(v) {
			s = append(s, trace.Point{T: t0.Add(time.Duration(i) * time.Minute), V: v})
		}
	}
	if len(s) < 2 {
		return nil, fmt.Errorf("the history of %s of %s has %d values, too few to replay", h.gauge, h.workload, len(s))
	}
	return s, nil
}
