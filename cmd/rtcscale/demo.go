package main

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/spf13/pflag"
	cliflag "k8s.io/component-base/cli/flag"

	"github.com/rtcscale/rtcscale/demo"
	"github.com/rtcscale/rtcscale/internal/klogflags"
)

func demoCommand(inv invocation) (cliflag.NamedFlagSets, func(context.Context, *pflag.FlagSet) error) {
	o := &demoOptions{}
	return o.flags(), func(ctx context.Context, fs *pflag.FlagSet) error {
		if err := o.validate(fs); err != nil {
			return err
		}
		cfg := o.cfg
		cfg.Store, cfg.Provider, cfg.SubjectPrefix, cfg.NoExternal = o.cf.store, o.cf.provider, o.cf.subjectPrefix, !o.cf.external
		return demo.Run(ctx, cfg, inv.stdout, nil)
	}
}

// demoOptions are the demo's flags.
type demoOptions struct {
	cfg demo.Config
	cf  collectorFlags
}

func (o *demoOptions) flags() cliflag.NamedFlagSets {
	var fss cliflag.NamedFlagSets
	fs := fss.FlagSet("demo")
	fs.StringVar(&o.cfg.Listen, "listen", "127.0.0.1:8080", "where to serve the metrics APIs (plain HTTP, no authentication: keep it on loopback)")
	fs.StringVar(&o.cfg.MetricsListen, "metrics-bind-address", "127.0.0.1:9090", "where to serve self-metrics and probes")
	fs.IntVar(&o.cfg.NATSPort, "nats-port", 0, "port of the embedded NATS server (0: 4222 if free, else any)")
	fs.DurationVar(&o.cfg.Interval, "interval", 2e9, "how often each simulated sidecar publishes")
	fs.DurationVar(&o.cfg.Day, "day", 600e9, "how long a simulated day lasts; the fleet and the forecasts run on the simulated clock")
	fs.StringVar(&o.cfg.HistoryDir, "history-dir", "", "where the embedded NATS keeps the workloads' histories (JetStream); default a temporary directory removed on exit. A new one gets 4 simulated days of history; a kept one is resumed, the simulated clock going on from its newest minute")
	o.cf.add(fss.FlagSet("collector"))
	klogflags.Add(fss.FlagSet("logging"))
	return fss
}

func (o *demoOptions) validate(fs *pflag.FlagSet) error {
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	c := o.cfg
	return errors.Join(
		checkFlags(
			check{"listen", c.Listen, validAddress(c.Listen), "host:port, the host optional"},
			check{"metrics-bind-address", c.MetricsListen, validAddress(c.MetricsListen), "host:port, the host optional"},
			check{"nats-port", c.NATSPort, c.NATSPort >= 0 && c.NATSPort <= math.MaxUint16, "0 to 65535"},
			check{"interval", c.Interval, c.Interval > 0, "a duration above 0"},
			check{"day", c.Day, c.Day > 0, "a duration above 0"},
		),
		o.cf.validate(),
	)
}
