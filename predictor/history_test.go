package predictor

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestHistoryAddSnapshot(t *testing.T) {
	h := NewHistory(time.Minute, 5)
	t0 := time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)
	if y, _ := h.Snapshot(nil); len(y) != 0 {
		t.Fatalf("empty history gave %v", y)
	}
	for _, c := range []struct {
		at time.Duration
		v  float64
	}{{0, 1}, {time.Minute + 30*time.Second, 2}, {3 * time.Minute, 4}, {time.Minute, 20}} {
		if err := h.Add(t0.Add(c.at), c.v); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.Observed(); n != 3 {
		t.Fatalf("%d slots observed, want 3", n)
	}
	y, start := h.Snapshot(nil)
	want := []float64{1, 20, math.NaN(), 4}
	if !start.Equal(t0) || len(y) != len(want) {
		t.Fatalf("got %v from %s", y, start)
	}
	for i := range want {
		if y[i] != want[i] && !(math.IsNaN(y[i]) && math.IsNaN(want[i])) {
			t.Fatalf("got %v, want %v", y, want)
		}
	}
	// Advancing past the capacity drops the oldest and clears skipped slots.
	if err := h.Add(t0.Add(6*time.Minute), 7); err != nil {
		t.Fatal(err)
	}
	if n := h.Observed(); n != 2 {
		t.Fatalf("%d slots observed after wrap, want 2", n)
	}
	y, start = h.Snapshot(y)
	if !start.Equal(t0.Add(3*time.Minute)) || len(y) != 4 || y[0] != 4 || !math.IsNaN(y[1]) || y[3] != 7 {
		t.Fatalf("after wrap: %v from %s", y, start)
	}
	for _, bad := range []float64{-1, math.NaN(), math.Inf(1)} {
		if err := h.Add(t0.Add(6*time.Minute), bad); !errors.Is(err, ErrRejected) {
			t.Errorf("value %v: %v", bad, err)
		}
	}
	if err := h.Add(t0, 1); !errors.Is(err, ErrRejected) {
		t.Errorf("slot older than the ring: %v", err)
	}
	if last, ok := h.Latest(); !ok || !last.Equal(t0.Add(6*time.Minute)) {
		t.Errorf("latest %s %v", last, ok)
	}
	// A jump of more than the capacity leaves only the new slot.
	if err := h.Add(t0.Add(time.Hour), 9); err != nil {
		t.Fatal(err)
	}
	if y, _ = h.Snapshot(y); len(y) != 1 || y[0] != 9 || h.Observed() != 1 {
		t.Fatalf("after a long gap: %v", y)
	}
}
