package predictor

import (
	"math"

	"gonum.org/v1/gonum/mat"
)

// harmonic is a regression of the load on daily and weekly Fourier terms,
// solved by least squares (gonum/mat, QR): a smooth shape that averages the
// recent weeks. Daily terms k = 1..dailyTerms; for weekly series, weekly
// terms k = 1..weeklyTerms that are not multiples of 7 (those are daily
// terms already), which lets weekdays and weekends have different shapes.
//
// It is fitted on means of about 10-minute buckets: the curve has no detail
// finer than that, and it keeps the system small at 1-minute resolution.
type harmonic struct {
	s      seasons
	weekly bool
	// curve is the fitted value at each slot of the longest season, indexed
	// by y index modulo its length.
	curve []float64
}

const (
	dailyTerms  = 12
	weeklyTerms = 21
)

func newHarmonic(s seasons, weekly bool) *harmonic { return &harmonic{s: s, weekly: weekly} }

func (hr *harmonic) name() string { return "harmonic" }

// freqs lists the frequencies, in cycles per slot, of the Fourier terms.
func (hr *harmonic) freqs() []float64 {
	var f []float64
	for k := 1; k <= dailyTerms && 2*k < hr.s.day; k++ {
		f = append(f, float64(k)/float64(hr.s.day))
	}
	if hr.weekly {
		for k := 1; k <= weeklyTerms; k++ {
			if k%7 != 0 {
				f = append(f, float64(k)/float64(hr.s.week))
			}
		}
	}
	return f
}

func (hr *harmonic) fit(y []float64) {
	season := hr.s.day
	span := 14 * hr.s.day
	if hr.weekly {
		season, span = hr.s.week, 4*hr.s.week
	}
	start := max(0, len(y)-span)
	agg := max(1, hr.s.day/144)
	freqs := hr.freqs()
	cols := 1 + 2*len(freqs)
	rows := (len(y) - start) / agg
	hr.curve = make([]float64, season)
	if rows < 2*cols {
		// Too little data for the terms: the flat mean, which the level
		// correction then scales.
		m := mean(y[start:])
		for i := range hr.curve {
			hr.curve[i] = m
		}
		return
	}
	a := mat.NewDense(rows, cols, nil)
	b := mat.NewVecDense(rows, nil)
	row := make([]float64, cols)
	for r := range rows {
		i0 := start + r*agg
		b.SetVec(r, mean(y[i0:i0+agg]))
		hr.basis(row, freqs, float64(i0)+float64(agg-1)/2)
		a.SetRow(r, row)
	}
	var coef mat.VecDense
	if err := coef.SolveVec(a, b); err != nil {
		m := mean(y[start:])
		for i := range hr.curve {
			hr.curve[i] = m
		}
		return
	}
	c := coef.RawVector().Data
	for p := range hr.curve {
		hr.basis(row, freqs, float64(p))
		v := 0.0
		for j := range row {
			v += row[j] * c[j]
		}
		hr.curve[p] = v
	}
}

// basis writes the regressors of position x (in slots) into row.
func (hr *harmonic) basis(row, freqs []float64, x float64) {
	row[0] = 1
	for j, f := range freqs {
		s, c := math.Sincos(2 * math.Pi * f * x)
		row[1+2*j], row[2+2*j] = s, c
	}
}

func (hr *harmonic) run([]float64)          {}
func (hr *harmonic) first() int             { return 0 }
func (hr *harmonic) level(int) float64      { return 0 }
func (hr *harmonic) past(i int) float64     { return hr.curve[mod(int64(i), int64(len(hr.curve)))] }
func (hr *harmonic) ahead(_, i int) float64 { return hr.past(i) }
