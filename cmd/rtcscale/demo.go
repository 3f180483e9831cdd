package main

import (
	"context"
	"os"

	"github.com/spf13/pflag"

	"github.com/rtcscale/rtcscale/demo"
	"github.com/rtcscale/rtcscale/internal/klogflags"
)

func runDemo(ctx context.Context, args []string) error {
	fs := pflag.NewFlagSet("demo", pflag.ContinueOnError)
	var cfg demo.Config
	var cf collectorFlags
	cf.add(fs)
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "where to serve the metrics APIs (plain HTTP, no authentication: keep it on loopback)")
	fs.StringVar(&cfg.MetricsListen, "metrics-bind-address", "127.0.0.1:9090", "where to serve self-metrics and probes")
	fs.IntVar(&cfg.NATSPort, "nats-port", 0, "port of the embedded NATS server (0: 4222 if free, else any)")
	fs.DurationVar(&cfg.Interval, "interval", 2e9, "how often each simulated sidecar publishes")
	fs.DurationVar(&cfg.Day, "day", 600e9, "how long a simulated day lasts; the fleet and the forecasts run on the simulated clock")
	fs.StringVar(&cfg.HistoryDir, "history-dir", "", "where the embedded NATS keeps the workloads' histories (JetStream); default a temporary directory removed on exit. A new one gets 4 simulated days of history; a kept one is resumed, the simulated clock going on from its newest minute")
	klogflags.Add(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.Store, cfg.Provider, cfg.SubjectPrefix, cfg.NoExternal = cf.store, cf.provider, cf.subjectPrefix, !cf.external
	return demo.Run(ctx, cfg, os.Stdout, nil)
}
