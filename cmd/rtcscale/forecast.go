package main

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/rtcscale/rtcscale/internal/server"
	"github.com/rtcscale/rtcscale/predictor"
)

// forecastFlags configure the adapter's forecasts (<gauge>_forecast) and
// the history they learn from.
type forecastFlags struct {
	on    bool
	leads string
	live  predictor.LiveConfig
	store predictor.StoreConfig
}

func (f *forecastFlags) add(fs *pflag.FlagSet) {
	fs.BoolVar(&f.on, "forecast", true, "serve <gauge>_forecast for every workload: max(current sum, highest upper forecast over the workload's lead), learned from its history in NATS JetStream")
	fs.StringSliceVar(&f.live.Gauges, "forecast-gauges", []string{"calls", "participants"}, "gauges to keep a history of and forecast (empty: all); each workload and gauge costs 197 KiB of memory and a JetStream message a minute")
	fs.StringVar(&f.leads, "forecast-lead", "default=learned", "how far ahead forecasts look: comma-separated namespace/name=DURATION and default=DURATION, where DURATION may be \"learned\" (p90 of the workload's pods' creation-to-Ready time, plus a minute; at least 1m)")
	fs.IntVar(&f.live.MaxSeries, "forecast-max-series", 500, "most histories (workload × gauge) held; more are refused and counted in rtcscale_forecast_series_refused_total")
	fs.StringVar(&f.store.Stream, "history-stream", "RTCSCALE_HISTORY", "JetStream stream that keeps the workloads' histories (created if missing; every adapter replica writes to it, deduplicated)")
	fs.StringVar(&f.store.Subject, "history-subject", "rtcscale.history.v1", "subject prefix of the history stream")
	fs.IntVar(&f.store.Replicas, "history-replicas", 1, fmt.Sprintf("replicas of the history stream in a clustered JetStream (1 to %d)", maxStreamReplicas))
}

// config returns the forecasts' configuration, or nil when they are off:
// the adapter records the workloads every minute and keeps their
// histories in JetStream.
func (f *forecastFlags) config() (*server.Forecasts, error) {
	if !f.on {
		return nil, nil
	}
	var err error
	if f.live.Leads, err = predictor.ParseLeads(f.leads); err != nil {
		return nil, fmt.Errorf("--forecast-lead: %w", err)
	}
	if err := f.store.Validate(); err != nil {
		return nil, fmt.Errorf("--history-stream, --history-subject: %w", err)
	}
	return &server.Forecasts{Live: f.live, Store: f.store}, nil
}
