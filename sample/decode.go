package sample

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unsafe"
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

// The top-level members Decode reads, besides "gauges".
const (
	fieldVersion = iota
	fieldKind
	fieldNamespace
	fieldPod
	fieldNode
	fieldRegion
	fieldTimestamp
	fieldSeq
	fieldInterval
	fieldDraining
	numFields
)

var fieldNames = [numFields]string{
	fieldVersion: "v", fieldKind: "kind", fieldNamespace: "namespace", fieldPod: "pod", fieldNode: "node",
	fieldRegion: "region", fieldTimestamp: "ts_ms", fieldSeq: "seq", fieldInterval: "interval_ms", fieldDraining: "draining",
}

// fieldIndex returns the index of key in fieldNames, or -1.
func fieldIndex(key string) int {
	for i, name := range fieldNames {
		if key == name {
			return i
		}
	}
	return -1
}

// A Decoder decodes samples. It keeps its buffers between calls, so decoding
// does not allocate once it is warm. A Decoder is not safe for concurrent
// use: give each goroutine its own.
type Decoder struct {
	sc     scanner
	gauges [MaxGauges]Gauge
}

// Decode parses and validates one encoded sample into s. It returns Accepted
// or the first reason the sample breaks a rule; on rejection s is left
// partly filled and must not be used. s aliases data and the decoder's
// buffer until the next call.
func (d *Decoder) Decode(data []byte, s *Sample) Reason {
	if len(data) > MaxSize {
		return ReasonTooLarge
	}
	sc := &d.sc
	sc.reset(data)
	*s = Sample{Gauges: d.gauges[:0]}

	// The whole message is read before any rule applies, so that broken
	// JSON is always reported as such, and the rules apply in one order
	// whatever the order of the fields. A repeated field counts once, the
	// last time, as encoding/json reads it.
	var f [numFields]value
	var gauges valueKind
	var tooManyGauges, badValue bool
	ok := sc.object(func(key string) bool {
		var ok bool
		switch i := fieldIndex(key); {
		case i >= 0:
			f[i], ok = sc.value(1)
		case key == "gauges":
			if sc.skipSpace() != '{' {
				var v value
				v, ok = sc.value(1)
				gauges = v.kind
				break
			}
			gauges, s.Gauges, tooManyGauges, badValue = kindObject, d.gauges[:0], false, false
			ok = sc.object(func(name string) bool {
				v, ok := sc.value(2)
				switch {
				case !ok:
					return false
				case len(s.Gauges) == MaxGauges:
					tooManyGauges = true
					return true
				}
				f, ok := floatValue(v)
				if !ok {
					badValue = true
				}
				s.Gauges = append(s.Gauges, Gauge{Name: name, Value: f})
				return true
			})
		default:
			_, ok = sc.value(1)
		}
		return ok
	})
	version, kind, ns, pod, node, region := f[fieldVersion], f[fieldKind], f[fieldNamespace], f[fieldPod], f[fieldNode], f[fieldRegion]
	ts, seq, interval, draining := f[fieldTimestamp], f[fieldSeq], f[fieldInterval], f[fieldDraining]
	if !ok || !sc.end() {
		return ReasonMalformed
	}

	if ver, ok := intValue(version); !ok || ver != Version {
		return ReasonVersion
	}
	if kind.kind != kindString {
		return ReasonKind
	}
	if s.Kind = ParseKind(kind.text); s.Kind == KindUnknown {
		return ReasonKind
	}
	if s.Namespace, ok = stringValue(ns); !ok {
		return ReasonNamespace
	}
	if s.Pod, ok = stringValue(pod); !ok {
		return ReasonPod
	}
	if node.kind != kindNone {
		if s.Node, ok = stringValue(node); !ok || !IsDNSSubdomain(s.Node) {
			return ReasonNode
		}
	}
	if region.kind != kindNone {
		if s.Region, ok = stringValue(region); !ok || !IsLabelValue(s.Region) {
			return ReasonRegion
		}
	}
	ms, ok := intValue(ts)
	if !ok || ms <= 0 || ms > maxTimestampMillis {
		return ReasonTimestamp
	}
	s.Time = time.UnixMilli(ms)
	if seq.kind != kindNone {
		if s.Seq, ok = uintValue(seq); !ok {
			return ReasonMalformed
		}
	}
	iv, ok := intValue(interval)
	if !ok || iv < MinInterval.Milliseconds() || iv > MaxInterval.Milliseconds() {
		return ReasonInterval
	}
	s.Interval = time.Duration(iv) * time.Millisecond
	switch draining.kind {
	case kindNone, kindFalse:
	case kindTrue:
		s.Draining = true
	default:
		return ReasonMalformed
	}
	switch {
	case gauges == kindNone:
		return ReasonNoGauges
	case gauges != kindObject:
		return ReasonMalformed
	case tooManyGauges:
		return ReasonTooManyGauges
	case badValue:
		return ReasonValue
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

func stringValue(v value) (string, bool) {
	return v.text, v.kind == kindString
}

// intValue reads an integer: a fraction or an exponent is not one.
func intValue(v value) (int64, bool) {
	if v.kind != kindNumber {
		return 0, false
	}
	if n, ok := digitsValue(v.text); ok {
		return int64(n), true
	}
	n, err := strconv.ParseInt(v.text, 10, 64)
	return n, err == nil
}

func uintValue(v value) (uint64, bool) {
	if v.kind != kindNumber {
		return 0, false
	}
	if n, ok := digitsValue(v.text); ok {
		return n, true
	}
	n, err := strconv.ParseUint(v.text, 10, 64)
	return n, err == nil
}

func floatValue(v value) (float64, bool) {
	if v.kind != kindNumber {
		return 0, false
	}
	if n, ok := digitsValue(v.text); ok && n <= 1<<53 {
		return float64(n), true // exact
	}
	f, err := strconv.ParseFloat(v.text, 64)
	return f, err == nil
}

// digitsValue is the fast path of the number readers for the common case:
// up to 18 decimal digits, which cannot overflow. Anything else (a sign, a
// fraction, an exponent, a longer number) is left to strconv.
func digitsValue(s string) (uint64, bool) {
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i] - '0'
		if c > 9 {
			return 0, false
		}
		n = n*10 + uint64(c)
	}
	return n, true
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
