package window

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestMaxAhead(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		v := make([]float64, r.IntN(40))
		for i := range v {
			v[i] = float64(r.IntN(10))
			if r.IntN(4) == 0 {
				v[i] = math.NaN()
			}
		}
		w := r.IntN(6)
		got := MaxAhead(v, w)
		for k := range v {
			want := math.NaN()
			for j := k; j <= k+w && j < len(v); j++ {
				if !math.IsNaN(v[j]) && (math.IsNaN(want) || v[j] > want) {
					want = v[j]
				}
			}
			if got[k] != want && !(math.IsNaN(got[k]) && math.IsNaN(want)) {
				t.Fatalf("trial %d, w=%d, %v: at %d got %v, want %v", trial, w, v, k, got[k], want)
			}
		}
	}
}

func TestMaxAheadInts(t *testing.T) {
	got := MaxAhead([]int32{1, 5, 2, 2, 7, 1, 0, 3}, 2)
	want := []int32{5, 5, 7, 7, 7, 3, 3, 3}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%v, want %v", got, want)
		}
	}
}
