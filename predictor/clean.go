package predictor

import (
	"math"
	"slices"
)

// Anomaly clipping bounds, in robust standard deviations of the relative
// deviation from the seasonal reference. Dips are clipped harder than peaks:
// an outage or a holiday must not teach the models a low, while a real surge
// is the thing scaling up must not forget.
const (
	clipBelow = 3
	clipAbove = 6
)

// clean returns a copy of y fit for the models: missing slots filled, and,
// for a periodic series, every value clipped to within a few robust
// deviations of a reference made of the same slot over the previous k
// periods (a robust mean, so a past anomaly does not make the next one look
// normal). It is causal: slot i is cleaned from slots before it only, so the
// backtest can clean its whole series once. scaleEnd bounds the slots the
// deviation scale is estimated from (the training part).
func clean(y []float64, period, k int, s seasons, scaleEnd int) []float64 {
	out := fillGaps(y)
	if period == 0 || len(out) <= period {
		return out
	}
	ref := newProfile("reference", period, k, s)
	ref.run(out)
	// Deviations relative to the reference, with a floor of a tenth of the
	// mean so that near-zero night slots do not look enormous.
	floor := 0.1 * mean(out)
	dev := make([]float64, 0, scaleEnd)
	for i := period; i < min(scaleEnd, len(out)); i++ {
		r := ref.prof[i]
		dev = append(dev, math.Abs(out[i]-r)/(r+floor))
	}
	if len(dev) == 0 {
		return out
	}
	slices.Sort(dev)
	sigma := 1.4826 * dev[len(dev)/2]
	if sigma == 0 || floor == 0 {
		return out
	}
	for i := period; i < len(out); i++ {
		r := ref.prof[i]
		if math.IsNaN(y[i]) {
			out[i] = r // a gap: the season knows better than a straight line
			continue
		}
		lo, hi := r-clipBelow*sigma*(r+floor), r+clipAbove*sigma*(r+floor)
		out[i] = math.Max(0, math.Min(math.Max(out[i], lo), hi))
	}
	return out
}

// fillGaps replaces missing values by linear interpolation between the
// nearest observed neighbours (the nearest one at the ends); all missing
// gives zeros.
func fillGaps(y []float64) []float64 {
	out := slices.Clone(y)
	prev := -1
	for i, v := range out {
		if math.IsNaN(v) {
			continue
		}
		switch {
		case prev < 0:
			for j := range i {
				out[j] = v
			}
		case i-prev > 1:
			for j := prev + 1; j < i; j++ {
				w := float64(j-prev) / float64(i-prev)
				out[j] = out[prev] + w*(v-out[prev])
			}
		}
		prev = i
	}
	if prev < 0 {
		clear(out)
		return out
	}
	for j := prev + 1; j < len(out); j++ {
		out[j] = out[prev]
	}
	return out
}
