package predictor

import (
	"math"
	"time"
)

// Periodicity is the longest season a series repeats.
type Periodicity int

const (
	// None: no daily pattern worth forecasting; the predictor stays reactive.
	None Periodicity = iota
	// Daily: every day looks alike.
	Daily
	// Weekly: days of the week differ in a way that repeats week after week.
	Weekly
)

func (p Periodicity) String() string {
	switch p {
	case Daily:
		return "daily"
	case Weekly:
		return "weekly"
	default:
		return "none"
	}
}

// Detection thresholds. A season is kept when forecasting with it beats the
// simpler alternative out of sample by a clear margin: on the shared traces
// the daily ratio is 0.02-0.55 for periodic series and above 4 for the
// non-periodic one, and the weekly ratio 0.52-0.79 for weekly series against
// 1.02-1.21 for daily ones.
const (
	dailyGain  = 0.75
	weeklyGain = 0.9
)

// seasons holds the season lengths, in slots, of a series of a given step.
type seasons struct {
	day, week int
}

func seasonsOf(step time.Duration) seasons {
	d := int(24 * time.Hour / step)
	return seasons{day: d, week: 7 * d}
}

// DetectPeriodicity labels y (regular samples every step, NaN missing) as
// weekly, daily or none. It is a test of predictive skill rather than of
// spectral peaks, because what matters here is whether a season helps
// forecasting: on hourly means,
//   - daily when "the mean of the same hour over the previous 7 days" has a
//     mean absolute error below dailyGain times that of "yesterday's mean
//     level" (a trend, a level shift or noise fails this);
//   - weekly when, moreover, "the same hour of the week over the previous
//     weeks" beats the daily profile by weeklyGain. Averaging 7 days cuts
//     noise the single weekly sample keeps, so a daily series with noise
//     does not pass for weekly.
//
// It needs 3 days for daily and 2 weeks for weekly; with less it answers the
// most it can tell.
func DetectPeriodicity(y []float64, step time.Duration) Periodicity {
	if checkStep(step) != nil {
		return None
	}
	// Hourly means (or the native step when it is coarser) keep the test
	// cheap at 1-minute resolution and the 1-minute noise out of it.
	agg := max(1, int(time.Hour/step))
	x := bucketMeans(y, agg)
	s := seasonsOf(step * time.Duration(agg))
	if s.day < 2 || len(x) < 3*s.day {
		return None
	}
	var eProf, eLevel float64
	for t := 2 * s.day; t < len(x); t++ {
		prof := lagMean(x, t, s.day, 7)
		level := windowMean(x, t-s.day, t)
		if math.IsNaN(x[t]) || math.IsNaN(prof) || math.IsNaN(level) {
			continue
		}
		eProf += math.Abs(x[t] - prof)
		eLevel += math.Abs(x[t] - level)
	}
	if !(eProf < dailyGain*eLevel) {
		return None
	}
	if len(x) < 2*s.week {
		return Daily // not every day of the week seen twice yet
	}
	var eDay, eWeek, sum float64
	for t := s.week; t < len(x); t++ {
		d := lagMean(x, t, s.day, 7)
		w := lagMean(x, t, s.week, 4)
		if math.IsNaN(x[t]) || math.IsNaN(d) || math.IsNaN(w) {
			continue
		}
		eDay += math.Abs(x[t] - d)
		eWeek += math.Abs(x[t] - w)
		sum += math.Abs(x[t])
	}
	// The gain must also matter: on a series that repeats exactly every day
	// both errors are rounding noise.
	if eWeek < weeklyGain*eDay && eDay-eWeek > 0.005*sum {
		return Weekly
	}
	return Daily
}

// bucketMeans averages consecutive groups of k values, ignoring NaN; a group
// with no value is NaN.
func bucketMeans(y []float64, k int) []float64 {
	if k == 1 {
		return y
	}
	out := make([]float64, 0, len(y)/k+1)
	for i := 0; i < len(y); i += k {
		out = append(out, windowMean(y, i, min(i+k, len(y))))
	}
	return out
}

// windowMean is the mean of the observed values of y[from:to], NaN if none.
func windowMean(y []float64, from, to int) float64 {
	var s float64
	var c int
	for _, v := range y[max(from, 0):to] {
		if !math.IsNaN(v) {
			s += v
			c++
		}
	}
	if c == 0 {
		return math.NaN()
	}
	return s / float64(c)
}

// lagMean is the mean of the observed y[t-j*lag], j = 1..k.
func lagMean(y []float64, t, lag, k int) float64 {
	var s float64
	var c int
	for j := 1; j <= k && t-j*lag >= 0; j++ {
		if v := y[t-j*lag]; !math.IsNaN(v) {
			s += v
			c++
		}
	}
	if c == 0 {
		return math.NaN()
	}
	return s / float64(c)
}
