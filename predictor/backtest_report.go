package predictor

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// bestBaseline is the baseline with the lowest WAPE at a horizon.
func bestBaseline(hr HorizonResult) (string, Score, bool) {
	var name string
	var best Score
	for _, b := range Baselines {
		if sc := hr.Baselines[b]; sc.N > 0 && (name == "" || sc.WAPE < best.WAPE) {
			name, best = b, sc
		}
	}
	return name, best, name != ""
}

// WriteText writes the report as `rtcscale backtest` prints it: a table of
// every model's and baseline's scores at each horizon, the chosen model
// against the best baseline, and the model each refit picked. name names
// the trace.
func (rep *BacktestReport) WriteText(out io.Writer, name string) error {
	fmt.Fprintf(out, "%s: step %s, holdout %s, periodicity %s\n", name, rep.Step, rep.Holdout, rep.Periodicity)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "horizon\tmodel\tWAPE\tsMAPE\tunder\t")
	for _, hr := range rep.Horizons {
		for _, m := range rep.Models {
			sc, ok := hr.Models[m]
			if !ok || sc.N == 0 {
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%.1f%%\t%.1f%%\t%.0f%%\t\n", hr.Horizon, m, 100*sc.WAPE, 100*sc.SMAPE, 100*sc.Under)
		}
		for _, b := range Baselines {
			if sc := hr.Baselines[b]; sc.N > 0 {
				fmt.Fprintf(tw, "%s\t%s\t%.1f%%\t%.1f%%\t%.0f%%\t\n", hr.Horizon, "baseline "+b, 100*sc.WAPE, 100*sc.SMAPE, 100*sc.Under)
			}
		}
		c := hr.Chosen
		fmt.Fprintf(tw, "%s\t%s\t%.2f%%\t%.1f%%\t%.0f%%\t\n", hr.Horizon, "chosen", 100*c.WAPE, 100*c.SMAPE, 100*c.Under)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, hr := range rep.Horizons {
		switch name, best, ok := bestBaseline(hr); {
		case !ok:
		case best.WAPE == 0:
			fmt.Fprintf(out, "%s ahead: the chosen model's WAPE is %.2f%%; the best baseline, %s, is exact\n", hr.Horizon, 100*hr.Chosen.WAPE, name)
		default:
			fmt.Fprintf(out, "%s ahead: the chosen model's WAPE is %.2f× that of the best baseline, %s (%.2f%%)\n", hr.Horizon, hr.Chosen.WAPE/best.WAPE, name, 100*best.WAPE)
		}
	}
	for _, hr := range rep.Horizons {
		var picks []string
		for _, m := range rep.Models {
			if k := hr.Picks[m]; k > 0 {
				picks = append(picks, fmt.Sprintf("%s ×%d", m, k))
			}
		}
		fmt.Fprintf(out, "%s ahead: would pick %s (picks over the refits: %s)\n", hr.Horizon, hr.Last, strings.Join(picks, ", "))
	}
	return nil
}
