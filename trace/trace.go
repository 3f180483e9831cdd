// Package trace reads load traces: CSV files of (timestamp, value) rows such
// as the ones under testdata/traces, and puts them on a regular time grid so
// that the predictor and the what-if replay can treat them as a series of
// equally spaced samples.
package trace

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Point is one observation of a trace.
type Point struct {
	T time.Time
	V float64
}

// Series is a trace in time order.
type Series []Point

// layouts are the timestamp forms accepted besides unix seconds. Timestamps
// without a zone are UTC.
var layouts = []string{
	"2006-01-02 15:04:05",
	"2006-01-02T15:04:05",
	time.RFC3339Nano,
	"2006-01-02 15:04",
}

// ReadFile reads a trace from a CSV file; see Read.
func ReadFile(path string) (Series, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Read reads a CSV trace with two columns, a timestamp and a value. The
// timestamp is either unix seconds or a date-time ("2014-07-01 00:30:00",
// RFC 3339). A first row that does not parse is taken as a header. Rows are
// sorted by time; a value that is not a finite, non-negative number is an
// error that names the line, as is a repeated timestamp.
func Read(r io.Reader) (Series, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	var s Series
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(rec) < 2 {
			return nil, fmt.Errorf("line %d: want 2 columns (timestamp,value), got %d", line, len(rec))
		}
		t, terr := parseTime(rec[0])
		v, verr := strconv.ParseFloat(strings.TrimSpace(rec[1]), 64)
		if line == 1 && (terr != nil || verr != nil) {
			continue // header
		}
		if terr != nil {
			return nil, fmt.Errorf("line %d: %w", line, terr)
		}
		if verr != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return nil, fmt.Errorf("line %d: value %q is not a finite non-negative number", line, rec[1])
		}
		s = append(s, Point{T: t, V: v})
	}
	if len(s) < 2 {
		return nil, fmt.Errorf("a trace needs at least 2 rows, got %d", len(s))
	}
	sort.SliceStable(s, func(i, j int) bool { return s[i].T.Before(s[j].T) })
	for i := 1; i < len(s); i++ {
		if s[i].T.Equal(s[i-1].T) {
			return nil, fmt.Errorf("timestamp %s appears twice", s[i].T.Format(time.RFC3339))
		}
	}
	return s, nil
}

func parseTime(field string) (time.Time, error) {
	field = strings.TrimSpace(field)
	if f, err := strconv.ParseFloat(field, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return time.Time{}, fmt.Errorf("timestamp %q is not a number of seconds", field)
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	}
	for _, l := range layouts {
		if t, err := time.ParseInLocation(l, field, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("timestamp %q is neither unix seconds nor a date-time", field)
}

// Step is the most common spacing between consecutive points: the trace's
// native resolution, robust to a few gaps.
func (s Series) Step() time.Duration {
	counts := map[time.Duration]int{}
	var best time.Duration
	for i := 1; i < len(s); i++ {
		d := s[i].T.Sub(s[i-1].T)
		counts[d]++
		if counts[d] > counts[best] || (counts[d] == counts[best] && d < best) {
			best = d
		}
	}
	return best
}

// Resample returns the values of s on a regular grid of the given step,
// starting at the first point, by linear interpolation between the
// neighbouring observations (gaps are bridged the same way).
func (s Series) Resample(step time.Duration) ([]float64, error) {
	if step <= 0 {
		return nil, fmt.Errorf("resample step must be positive, got %s", step)
	}
	if len(s) == 0 {
		return nil, nil
	}
	start, end := s[0].T, s[len(s)-1].T
	n := int(end.Sub(start)/step) + 1
	out := make([]float64, n)
	j := 0
	for i := range out {
		t := start.Add(time.Duration(i) * step)
		for j+1 < len(s) && !s[j+1].T.After(t) {
			j++
		}
		if j+1 >= len(s) || s[j].T.Equal(t) {
			out[i] = s[j].V
			continue
		}
		a, b := s[j], s[j+1]
		w := float64(t.Sub(a.T)) / float64(b.T.Sub(a.T))
		out[i] = a.V + w*(b.V-a.V)
	}
	return out, nil
}

// Max is the largest value of s.
func (s Series) Max() float64 {
	m := 0.0
	for _, p := range s {
		m = math.Max(m, p.V)
	}
	return m
}

// ScaleToPeak returns a copy of s multiplied so that its largest value is
// peak; a trace of zeros stays zero.
func (s Series) ScaleToPeak(peak float64) Series {
	m := s.Max()
	out := make(Series, len(s))
	for i, p := range s {
		out[i] = p
		if m > 0 {
			out[i].V = p.V * peak / m
		}
	}
	return out
}

// ScaleToP99 returns a copy of s clipped at clip times its 99th percentile
// and multiplied so that the percentile is p99: a trace's rare spikes then
// stand at most clip times above its ordinary peaks, whatever its units.
// The percentile interpolates linearly between ranks (as numpy's default
// does); a trace whose percentile is 0 stays as it is.
func (s Series) ScaleToP99(p99, clip float64) Series {
	vs := make([]float64, len(s))
	for i, p := range s {
		vs[i] = p.V
	}
	slices.Sort(vs)
	q := 0.0
	if n := len(vs); n > 0 {
		pos := 0.99 * float64(n-1)
		lo := int(pos)
		hi := min(lo+1, n-1)
		q = vs[lo] + (vs[hi]-vs[lo])*(pos-float64(lo))
	}
	out := make(Series, len(s))
	for i, p := range s {
		out[i] = p
		if q > 0 {
			out[i].V = min(p.V, clip*q) * p99 / q
		}
	}
	return out
}
