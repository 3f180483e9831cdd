package whatif

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"
)

// Row is one line of a comparison: a result, and in a sweep the setting
// that produced it.
type Row struct {
	Setting string
	*Result
}

// Columns of the comparison table, shared by the text and HTML reports.
var columns = []string{"pod-hours", "vs oracle", "min short", "call-min short", "worst short", "rejected", "cut", "pod-hours draining", "longest drain", "scale events"}

// drainName is the drain column's cell: the row's policy, none for the
// oracle, which models no calls.
func (r Row) drainName() string {
	if r.Mode == ModeOracle {
		return ""
	}
	return r.Drain.String()
}

// cells formats r for the comparison table against the oracle's pod-hours.
func (r Row) cells(oracle *Result) []string {
	ratio := "-"
	if oracle != nil && oracle.PodHours > 0 {
		ratio = fmt.Sprintf("%.3f", r.PodHours/oracle.PodHours)
	}
	return []string{
		fmt.Sprintf("%.0f", r.PodHours),
		ratio,
		fmt.Sprintf("%.1f", r.MinutesShort),
		fmt.Sprintf("%.0f", r.CallMinutesShort),
		fmt.Sprintf("%.0f", r.WorstShortfall),
		strconv.FormatInt(r.CallsRejected, 10),
		strconv.FormatInt(r.CallsCut, 10),
		fmt.Sprintf("%.0f", r.DrainingPodHours),
		shortDuration(r.LongestDrain),
		strconv.Itoa(r.ScaleEvents),
	}
}

func hasSettings(rows []Row) bool {
	for _, r := range rows {
		if r.Setting != "" {
			return true
		}
	}
	return false
}

// hasDrains tells whether the table needs a drain column: it compares
// policies, or its one policy is not the default.
func hasDrains(rows []Row) bool {
	var first *DrainPolicy
	for i := range rows {
		r := &rows[i]
		if r.Mode == ModeOracle {
			continue
		}
		if r.Drain.Drain != DrainUntilEmpty || first != nil && r.Drain != *first {
			return true
		}
		first = &r.Drain
	}
	return false
}

// WriteTable prints rows as an aligned text table, the ratio of pod-hours
// taken against oracle (which may be nil).
func WriteTable(w io.Writer, rows []Row, oracle *Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	settings, drains := hasSettings(rows), hasDrains(rows)
	head := ""
	if settings {
		head = "setting\t"
	}
	head += "mode\t"
	if drains {
		head += "drain\t"
	}
	for _, c := range columns {
		head += c + "\t"
	}
	fmt.Fprintln(tw, head)
	for _, r := range rows {
		line := ""
		if settings {
			line = r.Setting + "\t"
		}
		line += r.Mode + "\t"
		if drains {
			line += r.drainName() + "\t"
		}
		for _, c := range r.cells(oracle) {
			line += c + "\t"
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

// WriteCSV writes the timelines of rows, one line per bucket and row:
// time (RFC 3339), setting, mode, demand, capacity, replicas, pods (bucket
// means), minutes_short (the bucket's minutes short of capacity) and drain
// (the row's drain policy, last so that the columns before keep their
// places).
func WriteCSV(w io.Writer, rows []Row) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"time", "setting", "mode", "demand", "capacity", "replicas", "pods", "minutes_short", "drain"}); err != nil {
		return err
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
	for _, r := range rows {
		drain := r.drainName()
		for _, p := range r.Timeline {
			if err := cw.Write([]string{p.T.UTC().Format(time.RFC3339), r.Setting, r.Mode, f(p.Demand), f(p.Capacity), f(p.Replicas), f(p.Pods), f(p.Short), drain}); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}
