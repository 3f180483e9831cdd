package main

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/rtcscale/rtcscale/adapter"
	"github.com/rtcscale/rtcscale/collector"
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
