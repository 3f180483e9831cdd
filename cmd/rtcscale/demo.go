package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"
	cliflag "k8s.io/component-base/cli/flag"

	"github.com/rtcscale/rtcscale/demo"
	"github.com/rtcscale/rtcscale/internal/klogflags"
)

func demoCommand(inv invocation) (cliflag.NamedFlagSets, func(context.Context, *pflag.FlagSet) error) {
	var fss cliflag.NamedFlagSets
	var cfg demo.Config
	var cf collectorFlags
	fs := fss.FlagSet("demo")
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "where to serve the metrics APIs (plain HTTP, no authentication: keep it on loopback)")
	fs.StringVar(&cfg.MetricsListen, "metrics-bind-address", "127.0.0.1:9090", "where to serve self-metrics and probes")
	fs.IntVar(&cfg.NATSPort, "nats-port", 0, "port of the embedded NATS server (0: 4222 if free, else any)")
	fs.DurationVar(&cfg.Interval, "interval", 2e9, "how often each simulated sidecar publishes")
	fs.DurationVar(&cfg.Day, "day", 600e9, "how long a simulated day lasts; the fleet and the forecasts run on the simulated clock")
	fs.StringVar(&cfg.HistoryDir, "history-dir", "", "where the embedded NATS keeps the workloads' histories (JetStream); default a temporary directory removed on exit. A new one gets 4 simulated days of history; a kept one is resumed, the simulated clock going on from its newest minute")
	cf.add(fss.FlagSet("collector"))
	klogflags.Add(fss.FlagSet("logging"))
	return fss, func(ctx context.Context, fs *pflag.FlagSet) error {
		if fs.NArg() > 0 {
			return fmt.Errorf("unexpected arguments %q", fs.Args())
		}
		cfg.Store, cfg.Provider, cfg.SubjectPrefix, cfg.NoExternal = cf.store, cf.provider, cf.subjectPrefix, !cf.external
		return demo.Run(ctx, cfg, inv.stdout, nil)
	}
}
