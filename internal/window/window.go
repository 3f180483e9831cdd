// Package window computes extremes over sliding windows of a series in
// linear time, for the replay's oracle and foresight and the predictor's
// peaks ahead.
package window

import "cmp"

// MaxAhead returns, for each t, the largest of v[t..t+w] (clipped at the
// end), skipping NaN; where every value of a window is NaN, the result is
// NaN. A monotone deque of indices makes it linear in len(v).
func MaxAhead[T cmp.Ordered](v []T, w int) []T {
	out := make([]T, len(v))
	dq := make([]int, 0, len(v)) // indices of decreasing values from dq[h]
	h, next := 0, 0              // next: the next index to push
	for t := range v {
		for ; next < len(v) && next <= t+w; next++ {
			if v[next] != v[next] { // NaN
				continue
			}
			for len(dq) > h && v[dq[len(dq)-1]] <= v[next] {
				dq = dq[:len(dq)-1]
			}
			dq = append(dq, next)
		}
		for h < len(dq) && dq[h] < t {
			h++
		}
		if h < len(dq) {
			out[t] = v[dq[h]]
		} else {
			out[t] = v[t] // all NaN
		}
	}
	return out
}
