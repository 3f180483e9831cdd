package main

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/rtcscale/rtcscale/adapter"
	"github.com/rtcscale/rtcscale/collector"
	"github.com/rtcscale/rtcscale/collector/ingest"
	"github.com/rtcscale/rtcscale/internal/server"
	"github.com/rtcscale/rtcscale/sample"
)

// collectorFlags are the settings shared by every command that collects.
type collectorFlags struct {
	store         collector.Options
	subjectPrefix string
	provider      adapter.Options
	external      bool
}

func (c *collectorFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&c.subjectPrefix, "subject-prefix", sample.DefaultSubjectPrefix, "NATS subject prefix of load samples: samples of a pod arrive on <prefix>.<namespace>.<kind>.<pod>")
	fs.Float64Var(&c.store.StaleAfter, "stale-after", 3, "a sample is stale, and no longer served, after this many of its publish intervals (above 0)")
	fs.DurationVar(&c.store.MaxFuture, "max-clock-skew", 10e9, "refuse samples whose timestamp is further ahead of this process's clock")
	fs.IntVar(&c.store.MaxSeries, "max-series", 200000, "most pods with a sample held at once; more are refused and counted (reason series_limit)")
	fs.IntVar(&c.store.MaxSeriesPerNamespace, "max-series-per-namespace", 50000, "most pods with a sample held per namespace")
	fs.IntVar(&c.store.MaxGaugeNames, "max-gauge-names", 256, fmt.Sprintf("most distinct gauge names held at once (1 to %d); a name no pod holds any more is freed", collector.GaugeNamesLimit))
	fs.DurationVar(&c.store.StartupGrace, "startup-grace", 30e9, "how long a Ready pod may go without publishing before a sum over its workload is refused as incomplete")
	fs.BoolVar(&c.external, "enable-external-metrics", true, "serve external.metrics.k8s.io (turn off where another adapter, such as KEDA, owns that API)")
	fs.BoolVar(&c.provider.ExternalAllNamespaces, "external-metrics-all-namespaces", false, "let an external metric's selector aggregate other namespaces than the request's, with a namespace label")
}

// warmFlags turn on the warm start: a JetStream stream keeps the latest
// sample of every pod, and a starting adapter loads them before it serves.
type warmFlags struct {
	cfg     ingest.WarmConfig
	timeout time.Duration
}

func (w *warmFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&w.cfg.Stream, "warm-restart-stream", "", "JetStream stream that keeps the latest sample of every pod (created if missing), loaded at start so that values are served at once after a restart; empty: off, start cold on core NATS")
	fs.IntVar(&w.cfg.Replicas, "warm-restart-replicas", 1, fmt.Sprintf("replicas of the warm-restart stream in a NATS cluster (1 to %d; 3 survives the loss of a node)", maxStreamReplicas))
	fs.BoolVar(&w.cfg.Memory, "warm-restart-memory", false, "keep the warm-restart stream in NATS memory instead of on disk (a restart of NATS itself then empties it)")
	fs.DurationVar(&w.timeout, "warm-restart-timeout", 30*time.Second, "longest wait for the warm-restart stream at start; past it the adapter starts cold")
}

// config returns the warm start of the samples under prefix, keeping up to
// maxSeries of them, or nil when off.
func (w *warmFlags) config(prefix string, maxSeries int) *server.Warm {
	if w.cfg.Stream == "" {
		return nil
	}
	cfg := w.cfg
	cfg.Prefix, cfg.MaxMsgs = prefix, int64(maxSeries)
	return &server.Warm{WarmConfig: cfg, Timeout: w.timeout}
}
