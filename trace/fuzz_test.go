package trace

import (
	"bytes"
	"math"
	"testing"
)

// FuzzRead: any input is a trace in time order with no repeated timestamp
// and only finite, non-negative values, or an error.
func FuzzRead(f *testing.F) {
	f.Add([]byte("timestamp,value\n2014-07-01 00:00:00,10844\n2014-07-01 00:30:00,8127\n"))
	f.Add([]byte("1404172800,1.5\n1404174600,0\n"))
	f.Add([]byte("2014-07-01T00:00:00Z,1\n2014-07-01T00:00:00Z,2\n"))
	f.Add([]byte("a,b\n1,NaN\n2,-1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		if len(s) < 2 {
			t.Fatalf("%d rows accepted", len(s))
		}
		for i, p := range s {
			if math.IsNaN(p.V) || math.IsInf(p.V, 0) || p.V < 0 {
				t.Fatalf("row %d: value %v", i, p.V)
			}
			if i > 0 && !s[i-1].T.Before(p.T) {
				t.Fatalf("rows %d and %d out of order: %s, %s", i-1, i, s[i-1].T, p.T)
			}
		}
	})
}
