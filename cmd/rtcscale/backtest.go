package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	cliflag "k8s.io/component-base/cli/flag"

	"github.com/rtcscale/rtcscale/predictor"
	"github.com/rtcscale/rtcscale/trace"
)

// backtestCommand is `rtcscale backtest --trace FILE [--horizon 15m,1h,24h]`:
// it replays a load trace through the predictor and prints, for each
// horizon, the error of every model and of the one the predictor picks.
func backtestCommand(inv invocation) (cliflag.NamedFlagSets, func(context.Context, *pflag.FlagSet) error) {
	var fss cliflag.NamedFlagSets
	o := backtestOptions{out: inv.stdout}
	fs := fss.FlagSet("backtest")
	fs.StringVar(&o.file, "trace", "", "CSV load trace (timestamp,value) to replay")
	fs.StringVar(&o.horizons, "horizon", "15m,1h,24h", "comma-separated forecast horizons to score")
	fs.StringVar(&o.holdout, "holdout", "1344h", "final part of the trace forecast and scored: a duration, or a share of the trace (25%); at most a third of it")
	fs.DurationVar(&o.step, "step", 0, "resample the trace to this step (default: its native step)")
	fs.DurationVar(&o.refit, "refit", 24*time.Hour, "how often the models are refitted and chosen again during the holdout")
	fs.Float64Var(&o.under, "under-cost", 0, "cost of an under-forecast relative to an over-forecast when choosing (default 1: the error either way)")
	return fss, o.run
}

// backtestOptions are the command's flags.
type backtestOptions struct {
	out                     io.Writer
	file, horizons, holdout string
	step, refit             time.Duration
	under                   float64
}

func (o *backtestOptions) run(ctx context.Context, fs *pflag.FlagSet) error {
	if o.file == "" {
		return fmt.Errorf("--trace FILE is required")
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := checkFlags(
		check{"step", o.step, o.step >= 0, "a duration, or 0 for the trace's own step"},
		check{"refit", o.refit, o.refit > 0, "a duration above 0"},
		check{"under-cost", o.under, o.under >= 0 && !math.IsInf(o.under, 0), "a number, 0 for the default 1"},
	); err != nil {
		return err
	}
	var hs []time.Duration
	for _, f := range strings.Split(o.horizons, ",") {
		h, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil || h <= 0 {
			return fmt.Errorf("--horizon: %q is not a positive duration", f)
		}
		hs = append(hs, h)
	}
	s, err := trace.ReadFile(o.file)
	if err != nil {
		return err
	}
	if o.step == 0 {
		o.step = s.Step()
	}
	y, err := s.Resample(o.step)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	bo := predictor.BacktestOptions{Horizons: hs, Refit: o.refit, Options: predictor.Options{UnderCost: o.under}}
	if p, ok := strings.CutSuffix(o.holdout, "%"); ok {
		share, err := strconv.ParseFloat(p, 64)
		if err != nil || !(share > 0 && share <= 100/3.0) {
			return fmt.Errorf("--holdout %q: want a share of the trace between 0%% and 33%%", o.holdout)
		}
		bo.HoldoutShare = share / 100
	} else if bo.Holdout, err = time.ParseDuration(o.holdout); err != nil || bo.Holdout <= 0 {
		return fmt.Errorf("--holdout %q: want a positive duration or a share such as 25%%", o.holdout)
	}
	rep, err := predictor.Backtest(y, o.step, bo)
	if err != nil {
		return err
	}
	return rep.WriteText(o.out, filepath.Base(o.file))
}
