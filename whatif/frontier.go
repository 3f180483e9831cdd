package whatif

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// SLO is the reliability every setting of a sweep is held to: the
// operator's question is which setting is cheapest within it. The zero
// value is the reliability of the HPA as written.
type SLO struct {
	// MaxShort bounds the minutes short: minutes, or a share of the
	// trace's minutes when ShortShare. Negative: no bound.
	MaxShort   float64
	ShortShare bool
	// MaxRejected bounds the rejected calls: calls, or a share of the
	// calls offered when RejectedShare. Negative: no bound.
	MaxRejected   float64
	RejectedShare bool
	// AsWritten takes the minutes short of the HPA as written instead.
	AsWritten bool
}

// ParseSLO reads --max-short and --max-rejected. A share ends in % ("0.1%"
// of the trace's minutes, "0.01%" of the calls offered); an absolute
// minutes short is a number of minutes ("300") or a duration ("5h"),
// rejected calls a number. Both empty is the reliability of the HPA as
// written.
func ParseSLO(maxShort, maxRejected string) (SLO, error) {
	s := SLO{MaxShort: -1, MaxRejected: -1}
	if maxShort == "" && maxRejected == "" {
		s.AsWritten = true
		return s, nil
	}
	var err error
	if maxShort != "" {
		if s.MaxShort, s.ShortShare, err = parseBudget(maxShort, true); err != nil {
			return s, fmt.Errorf("--max-short %q: %w", maxShort, err)
		}
	}
	if maxRejected != "" {
		if s.MaxRejected, s.RejectedShare, err = parseBudget(maxRejected, false); err != nil {
			return s, fmt.Errorf("--max-rejected %q: %w", maxRejected, err)
		}
	}
	return s, nil
}

func parseBudget(v string, minutes bool) (float64, bool, error) {
	if p, ok := strings.CutSuffix(v, "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || !(f >= 0 && f <= 100) {
			return 0, false, fmt.Errorf("want a percentage between 0%% and 100%%")
		}
		return f / 100, true, nil
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 && !math.IsInf(f, 0) {
		return f, false, nil
	}
	if minutes {
		if d, err := time.ParseDuration(v); err == nil && d >= 0 {
			return d.Minutes(), false, nil
		}
		return 0, false, fmt.Errorf("want a share (0.1%%), minutes (300) or a duration (5h)")
	}
	return 0, false, fmt.Errorf("want a share (0.01%%) or a number of calls")
}

// Budget is an SLO resolved against a trace: bounds in minutes and calls
// (+Inf for none), and how to say it.
type Budget struct {
	MaxShort, MaxRejected float64
	Text                  string
}

// resolve turns s into bounds for a trace of minutes and of offered
// calls, asWritten being the replay of the HPA as written.
func (s SLO) resolve(minutes float64, offered int64, asWritten *Result) Budget {
	b := Budget{MaxShort: math.Inf(1), MaxRejected: math.Inf(1)}
	var parts []string
	if s.AsWritten {
		b.MaxShort = asWritten.MinutesShort
		return Budget{MaxShort: b.MaxShort, MaxRejected: b.MaxRejected, Text: fmt.Sprintf("at most %s short (%s of the trace's %s minutes), as the HPA as written (%s)", minutesText(b.MaxShort), pct(b.MaxShort/minutes), num(minutes), asWritten.Mode)}
	}
	if s.MaxShort >= 0 {
		b.MaxShort = s.MaxShort
		if s.ShortShare {
			b.MaxShort = s.MaxShort * minutes
		}
		parts = append(parts, fmt.Sprintf("at most %s short (%s of the trace's %s minutes)", minutesText(b.MaxShort), pct(b.MaxShort/minutes), num(minutes)))
	}
	if s.MaxRejected >= 0 {
		b.MaxRejected = s.MaxRejected
		if s.RejectedShare {
			b.MaxRejected = s.MaxRejected * float64(offered)
		}
		parts = append(parts, fmt.Sprintf("at most %s calls rejected (%s of the %s offered)", num(b.MaxRejected), pct(b.MaxRejected/float64(offered)), num(float64(offered))))
	}
	b.Text = strings.Join(parts, " and ")
	return b
}

func (b Budget) meets(r *Result) bool {
	return r.MinutesShort <= b.MaxShort+1e-9 && float64(r.CallsRejected) <= b.MaxRejected
}

// Frontier answers the operator's question for an SLO: which setting of
// each mode is cheapest within it, and what the forecast saves.
type Frontier struct {
	Budget Budget
	// Cheapest is, per mode, the row with the fewest pod-hours within the
	// budget; a mode with none is absent.
	Cheapest map[string]Row
	// Saving is 1 - predictive / reactive pod-hours of the cheapest
	// settings, and Ceiling the same for foresight; NaN where a mode has
	// no setting within the budget (or was not run).
	Saving, Ceiling float64
	// Verdict says it in one sentence.
	Verdict string
}

// frontierOf finds the frontier of rows for budget b.
func frontierOf(rows []Row, b Budget) *Frontier {
	f := &Frontier{Budget: b, Cheapest: map[string]Row{}, Saving: math.NaN(), Ceiling: math.NaN()}
	ran := map[string]bool{}
	for _, r := range rows {
		ran[r.Mode] = true
		if !b.meets(r.Result) {
			continue
		}
		// On a tie a setting of the sweep is named rather than the HPA as
		// written: it says what the setting is.
		if c, ok := f.Cheapest[r.Mode]; !ok || r.PodHours < c.PodHours || r.PodHours == c.PodHours && c.Setting == "" {
			f.Cheapest[r.Mode] = r
		}
	}
	re, okR := f.Cheapest[ModeReactive]
	pr, okP := f.Cheapest[ModePredictive]
	fs, okF := f.Cheapest[ModeForesight]
	if okR && okP {
		f.Saving = 1 - pr.PodHours/re.PodHours
	}
	if okR && okF {
		f.Ceiling = 1 - fs.PodHours/re.PodHours
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "For %s, ", b.Text)
	cheapest := func(mode string) string {
		r, ok := f.Cheapest[mode]
		if !ok {
			return fmt.Sprintf("no %s setting meets it", mode)
		}
		return fmt.Sprintf("the cheapest %s setting is %s at %s pod-hours", mode, settingName(r.Setting), num(r.PodHours))
	}
	switch {
	case ran[ModeReactive] && ran[ModePredictive]:
		fmt.Fprintf(&sb, "%s and %s", cheapest(ModeReactive), cheapest(ModePredictive))
		switch {
		case okR && okP && f.Saving >= 0:
			fmt.Fprintf(&sb, ": the forecast saves %s of pod-hours", pct(f.Saving))
		case okR && okP:
			fmt.Fprintf(&sb, ": the forecast costs %s more pod-hours", pct(-f.Saving))
		case okP:
			sb.WriteString(": only the forecast meets it")
		case okR:
			sb.WriteString(": the forecast does not meet it")
		}
	case ran[ModeReactive]:
		sb.WriteString(cheapest(ModeReactive))
	case ran[ModePredictive]:
		sb.WriteString(cheapest(ModePredictive))
	}
	if ran[ModeForesight] {
		switch {
		case okF && okR && okP && f.Ceiling > 0:
			fmt.Fprintf(&sb, "; a perfect forecast (foresight, %s) would save %s, so rtcscale's forecast captures %s of what forecasting can give here", settingName(fs.Setting), pct(f.Ceiling), pct(math.Max(0, f.Saving)/f.Ceiling))
		case okF && okR && f.Ceiling > 0:
			fmt.Fprintf(&sb, "; a perfect forecast (foresight, %s) would save %s", settingName(fs.Setting), pct(f.Ceiling))
		case okF && okR:
			fmt.Fprintf(&sb, "; even a perfect forecast (foresight, %s) would cost %s more: this HPA is as cheap as it can be without one", settingName(fs.Setting), pct(-f.Ceiling))
		case okF:
			fmt.Fprintf(&sb, "; a perfect forecast (foresight, %s) meets it at %s pod-hours", settingName(fs.Setting), num(fs.PodHours))
		default:
			sb.WriteString("; not even a perfect forecast (foresight) meets it with this HPA")
		}
	}
	sb.WriteString(".")
	f.Verdict = sb.String()
	return f
}

// minutesText says a number of minutes.
func minutesText(m float64) string {
	if m == 1 {
		return "1 minute"
	}
	return num(m) + " minutes"
}

// settingName names a row's setting in prose.
func settingName(s string) string {
	if s == "" {
		return "the HPA as written"
	}
	return s
}

// num formats a count for prose: thousands separated, at most one
// decimal below 100.
func num(v float64) string {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return fmt.Sprint(v)
	}
	if v < 100 && v != math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	s := strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// pct formats a share as a percentage with up to three significant
// decimals for small shares.
func pct(f float64) string {
	p := 100 * f
	switch {
	case math.IsNaN(p):
		return "n/a"
	case math.Abs(p) < 1 && p != 0:
		return strconv.FormatFloat(p, 'g', 2, 64) + "%"
	}
	return strconv.FormatFloat(p, 'f', 1, 64) + "%"
}
