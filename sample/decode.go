package sample

import (
	"math"
	"strings"
	"time"
	"unsafe"

	"github.com/valyala/fastjson"
)

// maxValue bounds gauge values: far above any real load (1e15 bit/s is a
// petabit) yet small enough that sums over 100k pods stay exact to the milli.
const maxValue = 1e15

// maxTimestampMillis is 9999-12-31, the last instant RFC 3339 can write.
const maxTimestampMillis = 253402300799999

// reservedSuffixes are the endings of the metric names rtcscale derives from
// a gauge; a gauge may not end in one, so that a derived name never collides
// with a published one.
var reservedSuffixes = [...]string{"_avg", "_max", "_forecast"}

// A Decoder decodes samples. It keeps its buffers between calls, so decoding
// does not allocate once it is warm. A Decoder is not safe for concurrent
// use: give each goroutine its own.
type Decoder struct {
	p      fastjson.Parser
	gauges [MaxGauges]Gauge
}

// Decode parses and validates one encoded sample into s. It returns Accepted
// or the first reason the sample breaks a rule; on rejection s is left
// partly filled and must not be used. s aliases the decoder's buffer until
// the next call.
func (d *Decoder) Decode(data []byte, s *Sample) Reason {
	if len(data) > MaxSize {
		return ReasonTooLarge
	}
	v, err := d.p.ParseBytes(data)
	if err != nil {
		return ReasonMalformed
	}
	o, err := v.Object()
	if err != nil {
		return ReasonMalformed
	}
	*s = Sample{Gauges: d.gauges[:0]}

	// One pass over the top-level fields: looking each up by name would
	// scan the object once per field.
	var version, kind, ns, pod, ts, seq, interval, draining, gauges, node, region *fastjson.Value
	o.Visit(func(key []byte, v *fastjson.Value) {
		switch string(key) {
		case "v":
			version = v
		case "kind":
			kind = v
		case "namespace":
			ns = v
		case "pod":
			pod = v
		case "node":
			node = v
		case "region":
			region = v
		case "ts_ms":
			ts = v
		case "seq":
			seq = v
		case "interval_ms":
			interval = v
		case "draining":
			draining = v
		case "gauges":
			gauges = v
		}
	})
	if ver, ok := intValue(version); !ok || ver != Version {
		return ReasonVersion
	}
	var ok bool
	var str string
	if str, ok = stringValue(kind); !ok {
		return ReasonKind
	}
	if s.Kind = ParseKind(str); s.Kind == KindUnknown {
		return ReasonKind
	}
	if s.Namespace, ok = stringValue(ns); !ok {
		return ReasonNamespace
	}
	if s.Pod, ok = stringValue(pod); !ok {
		return ReasonPod
	}
	if node != nil {
		if s.Node, ok = stringValue(node); !ok || !IsDNSSubdomain(s.Node) {
			return ReasonNode
		}
	}
	if region != nil {
		if s.Region, ok = stringValue(region); !ok || !IsLabelValue(s.Region) {
			return ReasonRegion
		}
	}
	ms, ok := intValue(ts)
	if !ok || ms <= 0 || ms > maxTimestampMillis {
		return ReasonTimestamp
	}
	s.Time = time.UnixMilli(ms)
	if seq != nil {
		if s.Seq, err = seq.Uint64(); err != nil {
			return ReasonMalformed
		}
	}
	iv, ok := intValue(interval)
	if !ok || iv < MinInterval.Milliseconds() || iv > MaxInterval.Milliseconds() {
		return ReasonInterval
	}
	s.Interval = time.Duration(iv) * time.Millisecond
	if draining != nil {
		if s.Draining, err = draining.Bool(); err != nil {
			return ReasonMalformed
		}
	}
	g := gauges
	if g == nil {
		return ReasonNoGauges
	}
	gs, err := g.Object()
	if err != nil {
		return ReasonMalformed
	}
	if gs.Len() > MaxGauges {
		return ReasonTooManyGauges
	}
	reason := Accepted
	gs.Visit(func(key []byte, v *fastjson.Value) {
		if reason != Accepted {
			return
		}
		f, err := v.Float64()
		if v.Type() != fastjson.TypeNumber || err != nil {
			reason = ReasonValue
			return
		}
		s.Gauges = append(s.Gauges, Gauge{Name: alias(key), Value: f})
	})
	if reason != Accepted {
		return reason
	}
	return s.validate()
}

// validate applies the rules that hold for a sample however it was made.
func (s *Sample) validate() Reason {
	switch {
	case s.Kind == KindUnknown || s.Kind >= numKinds:
		return ReasonKind
	case !IsDNSLabel(s.Namespace):
		return ReasonNamespace
	case !IsDNSLabel(s.Pod):
		return ReasonPod
	case s.Node != "" && !IsDNSSubdomain(s.Node):
		return ReasonNode
	case s.Region != "" && !IsLabelValue(s.Region):
		return ReasonRegion
	case s.Time.UnixMilli() <= 0 || s.Time.UnixMilli() > maxTimestampMillis:
		return ReasonTimestamp
	case s.Interval < MinInterval || s.Interval > MaxInterval:
		return ReasonInterval
	case len(s.Gauges) == 0:
		return ReasonNoGauges
	case len(s.Gauges) > MaxGauges:
		return ReasonTooManyGauges
	}
	for i, g := range s.Gauges {
		if !ValidGaugeName(g.Name) {
			return ReasonGaugeName
		}
		if math.IsNaN(g.Value) || g.Value < 0 || g.Value > maxValue {
			return ReasonValue
		}
		for _, h := range s.Gauges[:i] {
			if h.Name == g.Name {
				return ReasonDuplicateGauge
			}
		}
	}
	return Accepted
}

func stringValue(v *fastjson.Value) (string, bool) {
	if v == nil {
		return "", false
	}
	b, err := v.StringBytes()
	if err != nil {
		return "", false
	}
	return alias(b), true
}

func intValue(v *fastjson.Value) (int64, bool) {
	if v == nil || v.Type() != fastjson.TypeNumber {
		return 0, false
	}
	n, err := v.Int64()
	return n, err == nil
}

// alias views b as a string without copying; see Sample's contract.
func alias(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// ValidGaugeName reports whether name may name a gauge: ^[a-z][a-z0-9_]{0,62}$
// and no reserved suffix.
func ValidGaugeName(name string) bool {
	if len(name) == 0 || len(name) > 63 || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for i := 1; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	for _, suf := range reservedSuffixes {
		if strings.HasSuffix(name, suf) {
			return false
		}
	}
	return true
}

// IsDNSLabel reports whether s is an RFC 1123 label, as Kubernetes requires
// of namespace names and as rtcscale requires of pod names (a pod name is
// one token of the NATS subject, so it cannot contain dots).
func IsDNSLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (c != '-' || i == 0 || i == len(s)-1) {
			return false
		}
	}
	return true
}

// IsDNSSubdomain reports whether s is an RFC 1123 subdomain (node names).
func IsDNSSubdomain(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for len(s) > 0 {
		label, rest, found := strings.Cut(s, ".")
		if !IsDNSLabel(label) || (found && rest == "") {
			return false
		}
		s = rest
	}
	return true
}

// IsLabelValue reports whether s is a valid Kubernetes label value, so that
// it can be served as one.
func IsLabelValue(s string) bool {
	if len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && ((c != '-' && c != '_' && c != '.') || i == 0 || i == len(s)-1) {
			return false
		}
	}
	return true
}
