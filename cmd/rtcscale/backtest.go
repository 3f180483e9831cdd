package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rtcscale/rtcscale/predictor"
	"github.com/rtcscale/rtcscale/trace"
)

// runBacktest is `rtcscale backtest --trace FILE [--horizon 15m,1h,24h]`:
// it replays a load trace through the predictor and prints, for each
// horizon, the error of every model and of the one the predictor picks.
func runBacktest(ctx context.Context, args []string) error {
	return backtest(ctx, args, os.Stdout)
}

func backtest(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("backtest", flag.ContinueOnError)
	fs.SetOutput(out)
	file := fs.String("trace", "", "CSV load trace (timestamp,value) to replay")
	horizons := fs.String("horizon", "15m,1h,24h", "comma-separated forecast horizons to score")
	holdout := fs.Duration("holdout", 56*24*time.Hour, "final part of the trace forecast and scored (capped at a third of the trace)")
	step := fs.Duration("step", 0, "resample the trace to this step (default: its native step)")
	refit := fs.Duration("refit", 24*time.Hour, "how often the models are refitted and chosen again during the holdout")
	under := fs.Float64("under-cost", 0, "cost of an under-forecast relative to an over-forecast when choosing (default 3)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *file == "" {
		return fmt.Errorf("--trace FILE is required")
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var hs []time.Duration
	for _, f := range strings.Split(*horizons, ",") {
		h, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil || h <= 0 {
			return fmt.Errorf("--horizon: %q is not a positive duration", f)
		}
		hs = append(hs, h)
	}
	s, err := trace.ReadFile(*file)
	if err != nil {
		return err
	}
	if *step == 0 {
		*step = s.Step()
	}
	y, err := s.Resample(*step)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	rep, err := predictor.Backtest(y, *step, predictor.BacktestOptions{
		Horizons: hs, Holdout: *holdout, Refit: *refit,
		Options: predictor.Options{UnderCost: *under},
	})
	if err != nil {
		return err
	}
	printReport(out, filepath.Base(*file), rep)
	return nil
}

func printReport(out io.Writer, name string, rep *predictor.BacktestReport) {
	fmt.Fprintf(out, "%s: step %s, holdout %s, periodicity %s\n", name, rep.Step, rep.Holdout, rep.Periodicity)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "horizon\tmodel\tWAPE\tsMAPE\tunder\tabove upper\t")
	for _, hr := range rep.Horizons {
		for _, m := range rep.Models {
			sc, ok := hr.Models[m]
			if !ok || sc.N == 0 {
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%.1f%%\t%.1f%%\t%.0f%%\t\t\n", hr.Horizon, m, 100*sc.WAPE, 100*sc.SMAPE, 100*sc.Under)
		}
		c := hr.Chosen
		fmt.Fprintf(tw, "%s\t%s\t%.2f%%\t%.1f%%\t%.0f%%\t%.0f%%\t\n", hr.Horizon, "chosen", 100*c.WAPE, 100*c.SMAPE, 100*c.Under, 100*c.AboveUpper)
	}
	tw.Flush()
	for _, hr := range rep.Horizons {
		var picks []string
		for _, m := range rep.Models {
			if k := hr.Picks[m]; k > 0 {
				picks = append(picks, fmt.Sprintf("%s ×%d", m, k))
			}
		}
		fmt.Fprintf(out, "%s ahead: would pick %s (picks over the refits: %s)\n", hr.Horizon, hr.Last, strings.Join(picks, ", "))
	}
}
