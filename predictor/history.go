package predictor

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// History is a workload's load on a regular time grid: one value per step
// (a minute live), kept in a bounded ring of float32 so that memory per
// workload is fixed: 4 bytes × capacity (5 weeks of minutes is 50,400 slots,
// 197 KiB). Slots that were never written are missing (NaN), so gaps in the
// data are allowed. It is safe for concurrent use: the adapter adds while a
// background goroutine fits.
type History struct {
	mu   sync.Mutex
	step time.Duration
	vals []float32 // ring; NaN is a missing slot
	// newest is the slot number (unix time / step) of the most recent slot
	// the ring covers; the ring holds slots (newest-len(vals), newest].
	newest   int64
	empty    bool
	observed int // slots that hold a value
}

// NewHistory returns an empty history of the given resolution holding at
// most capacity slots. step must be a positive whole number of seconds no
// longer than a day and capacity positive; otherwise it panics, since both
// come from the program's own configuration, never from input.
func NewHistory(step time.Duration, capacity int) *History {
	if err := checkStep(step); err != nil || capacity <= 0 {
		panic(fmt.Sprintf("predictor.NewHistory(%s, %d): invalid resolution or capacity", step, capacity))
	}
	v := make([]float32, capacity)
	for i := range v {
		v[i] = float32(math.NaN())
	}
	return &History{step: step, vals: v, empty: true}
}

func checkStep(step time.Duration) error {
	if step < time.Second || step > 24*time.Hour || step%time.Second != 0 {
		return fmt.Errorf("step %s must be a whole number of seconds between 1s and 24h", step)
	}
	return nil
}

// ErrRejected wraps every value History.Add refuses.
var ErrRejected = errors.New("history: sample rejected")

// Add records v as the load of the slot that contains t, replacing what that
// slot held: the adapter writes one aggregate per workload and minute, and a
// reload or a second replica writing the same minute must not double it.
// A slot newer than the newest advances the ring (the slots skipped stay
// missing); a slot older than the ring holds is rejected, as is a value that
// is negative, NaN or infinite. Rejections wrap ErrRejected.
func (h *History) Add(t time.Time, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return fmt.Errorf("%w: value %v is not a finite non-negative number", ErrRejected, v)
	}
	if v > math.MaxFloat32 {
		return fmt.Errorf("%w: value %v overflows float32", ErrRejected, v)
	}
	slot := h.slotOf(t)
	h.mu.Lock()
	defer h.mu.Unlock()
	n := int64(len(h.vals))
	switch {
	case h.empty:
		h.newest, h.empty = slot, false
	case slot > h.newest:
		// Clear the slots between the old newest and the new one: they are
		// missing, not stale values from one ring turn ago.
		gap := min(slot-h.newest, n)
		for s := slot - gap + 1; s <= slot; s++ {
			if !math.IsNaN(float64(h.vals[mod(s, n)])) {
				h.observed--
			}
			h.vals[mod(s, n)] = float32(math.NaN())
		}
		h.newest = slot
	case slot <= h.newest-n:
		return fmt.Errorf("%w: %s is older than the %d slots kept", ErrRejected, t.UTC().Format(time.RFC3339), n)
	}
	if math.IsNaN(float64(h.vals[mod(slot, n)])) {
		h.observed++
	}
	h.vals[mod(slot, n)] = float32(v)
	return nil
}

func (h *History) slotOf(t time.Time) int64 {
	return floorDiv(t.Unix(), int64(h.step/time.Second))
}

// Step is the history's resolution.
func (h *History) Step() time.Duration { return h.step }

// Observed is the number of slots that hold a value.
func (h *History) Observed() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.observed
}

// Cap is the number of slots the history holds at most.
func (h *History) Cap() int { return len(h.vals) }

// Latest returns the time of the newest slot, and false if nothing was added.
func (h *History) Latest() (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.empty {
		return time.Time{}, false
	}
	return h.timeOf(h.newest), true
}

func (h *History) timeOf(slot int64) time.Time {
	return time.Unix(slot*int64(h.step/time.Second), 0).UTC()
}

// Snapshot copies the history into dst (grown as needed) in time order,
// oldest first, missing slots as NaN, leading missing slots dropped, and
// returns it with the time of its first slot. An empty history gives an
// empty slice.
func (h *History) Snapshot(dst []float64) ([]float64, time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	dst = dst[:0]
	if h.empty {
		return dst, time.Time{}
	}
	n := int64(len(h.vals))
	first := h.newest - n + 1
	for first < h.newest && math.IsNaN(float64(h.vals[mod(first, n)])) {
		first++
	}
	for s := first; s <= h.newest; s++ {
		dst = append(dst, float64(h.vals[mod(s, n)]))
	}
	return dst, h.timeOf(first)
}

// window sums the observed values of the slots (until-count, until] and
// counts them, without allocating: the live level correction reads the last
// hour this way at every query.
func (h *History) window(until int64, count int, visit func(slot int64, v float64)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.empty {
		return
	}
	n := int64(len(h.vals))
	for s := until - int64(count) + 1; s <= until; s++ {
		if s > h.newest || s <= h.newest-n {
			continue
		}
		if v := float64(h.vals[mod(s, n)]); !math.IsNaN(v) {
			visit(s, v)
		}
	}
}

func mod(a, n int64) int64 {
	m := a % n
	if m < 0 {
		m += n
	}
	return m
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
