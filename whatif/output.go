package whatif

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// WriteText prints the report as the command does: the modes with the
// HPA as written, the sweep if any, and the frontier's verdict.
func (r *Report) WriteText(w io.Writer) error {
	if err := WriteTable(w, r.Rows, r.Oracle); err != nil {
		return err
	}
	if len(r.Sweep) > 0 {
		fmt.Fprintln(w)
		if err := WriteTable(w, r.Sweep, r.Oracle); err != nil {
			return err
		}
	}
	if r.Frontier != nil && r.Frontier.Verdict != "" {
		fmt.Fprintln(w)
		_, err := fmt.Fprintln(w, r.Frontier.Verdict)
		return err
	}
	return nil
}

// Record is one line of summary.json: one setting in one mode.
type Record struct {
	Setting          string   `json:"setting"`
	Mode             string   `json:"mode"`
	PodHours         float64  `json:"pod_hours"`
	VsOracle         *float64 `json:"vs_oracle"`
	MinutesShort     float64  `json:"minutes_short"`
	CallMinutesShort float64  `json:"call_minutes_short"`
	WorstShort       float64  `json:"worst_short"`
	Offered          int64    `json:"offered"`
	Rejected         int64    `json:"rejected"`
	Cut              int64    `json:"cut"`
	ScaleEvents      int      `json:"scale_events"`
	// Drain is the scale-down policy as the table shows it ("sleep=6h";
	// empty for the oracle), GraceSeconds its grace period; then how many
	// pods were deleted, the pod-hours they ran after it (part of
	// pod_hours) and the longest drain.
	Drain               string  `json:"drain"`
	GraceSeconds        float64 `json:"grace_seconds"`
	PodsDeleted         int64   `json:"pods_deleted"`
	DrainingPodHours    float64 `json:"draining_pod_hours"`
	LongestDrainSeconds float64 `json:"longest_drain_seconds"`
	// WithinSLO tells whether the setting meets the frontier's SLO, and
	// Cheapest whether it is its mode's cheapest that does.
	WithinSLO bool `json:"within_slo"`
	Cheapest  bool `json:"cheapest"`
}

// asWritten is the setting of the rows that replay the HPA as written.
const asWritten = "as written"

// Records are the report's rows as summary.json holds them.
func (r *Report) Records() []Record {
	var out []Record
	for _, row := range append(append([]Row(nil), r.Rows...), r.Sweep...) {
		rec := Record{
			Setting: row.Setting, Mode: row.Mode, PodHours: row.PodHours,
			MinutesShort: row.MinutesShort, CallMinutesShort: row.CallMinutesShort, WorstShort: row.WorstShortfall,
			Offered: row.CallsOffered, Rejected: row.CallsRejected, Cut: row.CallsCut, ScaleEvents: row.ScaleEvents,
			Drain: row.drainName(), PodsDeleted: row.PodsDeleted, DrainingPodHours: row.DrainingPodHours,
			LongestDrainSeconds: row.LongestDrain.Seconds(),
		}
		if row.Mode != ModeOracle {
			rec.GraceSeconds = row.Drain.Grace.Seconds()
		}
		if rec.Setting == "" {
			rec.Setting = asWritten
		}
		if r.Oracle != nil && r.Oracle.PodHours > 0 {
			v := row.PodHours / r.Oracle.PodHours
			rec.VsOracle = &v
		}
		if f := r.Frontier; f != nil && row.Mode != ModeOracle {
			rec.WithinSLO = f.Budget.meets(row.Result)
			c, ok := f.Cheapest[row.Mode]
			rec.Cheapest = ok && c.Result == row.Result
		}
		out = append(out, rec)
	}
	return out
}

// Presentation is what the files say about the run besides its results.
type Presentation struct {
	Title, Command string
	// Params are the replay's settings, in display order.
	Params [][2]string
}

// output is a file to write and how.
type output struct {
	name  string
	write func(io.Writer) error
}

// file is a written output.
type file struct {
	name string
	data []byte
}

// WriteFiles writes the report's files into dir and returns their paths:
// timeline.csv, plot.png, plot.svg, week.png, summary.json, the frontier
// plot (frontier.png, frontier.svg) when there is a sweep, and report.html.
func (r *Report) WriteFiles(dir string, p Presentation) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var files []file
	add := func(name string, write func(w io.Writer) error) error {
		var b bytes.Buffer
		if err := write(&b); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		files = append(files, file{name, b.Bytes()})
		return nil
	}
	rows := r.primaryRows()
	all := append(append([]Row(nil), r.Rows...), r.Sweep...)
	from := busiestWeek(rows)
	weekTitle := fmt.Sprintf("%s, week of %s", p.Title, from.Format("2006-01-02"))
	steps := []output{
		{"timeline.csv", func(w io.Writer) error { return WriteCSV(w, all) }},
		{"plot.png", func(w io.Writer) error { return Plot(w, "png", p.Title, rows, time.Time{}, time.Time{}) }},
		{"plot.svg", func(w io.Writer) error { return Plot(w, "svg", p.Title, rows, time.Time{}, time.Time{}) }},
		{"week.png", func(w io.Writer) error { return Plot(w, "png", weekTitle, rows, from, from.Add(7*24*time.Hour)) }},
		{"summary.json", func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(r.Records())
		}},
	}
	frontierRows := frontierRows(r)
	if len(r.Sweep) > 0 && len(frontierRows) > 0 {
		title := p.Title + ": the frontier"
		steps = append(steps,
			output{"frontier.png", func(w io.Writer) error { return PlotFrontier(w, "png", title, frontierRows, r.Frontier) }},
			output{"frontier.svg", func(w io.Writer) error { return PlotFrontier(w, "svg", title, frontierRows, r.Frontier) }},
		)
	}
	for _, s := range steps {
		if err := add(s.name, s.write); err != nil {
			return nil, err
		}
	}
	// The plots draw one line per mode: with several drain policies, the
	// first's.
	drainNote := ""
	if len(r.Drains) > 1 {
		drainNote = ", drain " + r.Drains[0].String()
	}
	figures := []Figure{}
	links := []string{}
	for _, f := range files {
		switch f.name {
		case "frontier.png":
			figures = append([]Figure{{Caption: "The frontier: pod-hours against minutes short, each point a setting, the line joining the settings no other of its mode beats on both; ringed, each mode's cheapest within the SLO (dashed)", PNG: f.data}}, figures...)
		case "plot.png":
			figures = append(figures, Figure{Caption: "Whole trace, the HPA as written: demand, capacity and replicas per mode (bucket means)" + drainNote, PNG: f.data})
		case "week.png":
			figures = append(figures, Figure{Caption: weekTitle, PNG: f.data})
		}
		if filepath.Ext(f.name) != ".png" {
			links = append(links, f.name)
		}
	}
	verdict := ""
	if r.Frontier != nil {
		verdict = r.Frontier.Verdict
	}
	if err := add("report.html", func(w io.Writer) error {
		return WriteHTML(w, Page{Title: p.Title, Command: p.Command, Params: p.Params, Warnings: r.Warnings, Verdict: verdict,
			Rows: r.Rows, Oracle: r.Oracle, Sweep: r.Sweep, Figures: figures, Files: links})
	}); err != nil {
		return nil, err
	}
	var paths []string
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		if err := os.WriteFile(path, f.data, 0o644); err != nil {
			return paths, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// frontierRows are the rows the frontier compares: every setting of the
// modes that run an HPA, with the first drain policy.
func frontierRows(r *Report) []Row {
	var out []Row
	for _, row := range append(r.primaryRows(), r.Sweep...) {
		if row.Mode != ModeOracle {
			out = append(out, row)
		}
	}
	return out
}

// primaryRows are the rows of the HPA as written with the first drain
// policy, the oracle's included: one per mode, as the plots draw them.
func (r *Report) primaryRows() []Row {
	var out []Row
	for _, row := range r.Rows {
		if row.Mode == ModeOracle || len(r.Drains) == 0 || row.Drain == r.Drains[0] {
			out = append(out, row)
		}
	}
	return out
}

// busiestWeek is the start (a midnight) of the week to zoom on: the one
// around the largest shortfall of any mode, else around the peak demand.
func busiestWeek(rows []Row) time.Time {
	var at time.Time
	worst, peak := 0.0, -1.0
	for _, r := range rows {
		for _, p := range r.Timeline {
			if short := p.Demand - p.Capacity; short > worst {
				worst, at = short, p.T
			}
			if worst == 0 && p.Demand > peak {
				peak, at = p.Demand, p.T
			}
		}
	}
	day := at.Truncate(24 * time.Hour)
	start := day.Add(-3 * 24 * time.Hour)
	if len(rows) > 0 && len(rows[0].Timeline) > 0 {
		if first := rows[0].Timeline[0].T; start.Before(first) {
			start = first.Truncate(24 * time.Hour)
		}
	}
	return start
}
