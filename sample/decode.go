package sample

import (
	"math"
	"net/netip"
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
	fieldAddr
	fieldTimestamp
	fieldSeq
	fieldInterval
	fieldDraining
	numFields
)

// fieldIndex returns the field a top-level key names, or -1. A switch, not
// a table scan: the compiler sorts the cases by length and content, which
// costs a fraction of comparing the key with each name in turn.
func fieldIndex(key string) int {
	switch key {
	case "v":
		return fieldVersion
	case "kind":
		return fieldKind
	case "namespace":
		return fieldNamespace
	case "pod":
		return fieldPod
	case "node":
		return fieldNode
	case "region":
		return fieldRegion
	case "addr":
		return fieldAddr
	case "ts_ms":
		return fieldTimestamp
	case "seq":
		return fieldSeq
	case "interval_ms":
		return fieldInterval
	case "draining":
		return fieldDraining
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
	more, ok := sc.open()
	for ok && more {
		var key string
		if key, ok = sc.key(); !ok {
			break
		}
		switch i := fieldIndex(key); {
		case i >= 0:
			f[i], ok = sc.value(1)
		case key == "gauges":
			gauges, tooManyGauges, badValue, ok = d.readGauges(s)
		default:
			_, ok = sc.value(1)
		}
		if ok {
			more, ok = sc.next()
		}
	}
	version, kind, ns, pod, node, region, addr := f[fieldVersion], f[fieldKind], f[fieldNamespace], f[fieldPod], f[fieldNode], f[fieldRegion], f[fieldAddr]
	ts, seq, interval, draining := f[fieldTimestamp], f[fieldSeq], f[fieldInterval], f[fieldDraining]
	if !ok || !sc.end() {
		return ReasonMalformed
	}

	// The rules in validate's order; each is checked once.
	if ver, ok := intValue(version); !ok || ver != Version {
		return ReasonVersion
	}
	if kind.kind != kindString {
		return ReasonKind
	}
	if s.Kind = ParseKind(kind.text); s.Kind == KindUnknown {
		return ReasonKind
	}
	if s.Namespace, ok = stringValue(ns); !ok || !IsDNSLabel(s.Namespace) {
		return ReasonNamespace
	}
	if s.Pod, ok = stringValue(pod); !ok || !IsDNSLabel(s.Pod) {
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
	if addr.kind != kindNone {
		if s.Addr, ok = stringValue(addr); !ok || !ValidAddr(s.Addr) {
			return ReasonAddr
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
	return s.validateGauges()
}

// readGauges reads the value of "gauges" into s.Gauges: an object of
// numbers, of which the first MaxGauges are kept.
func (d *Decoder) readGauges(s *Sample) (kind valueKind, tooMany, badValue, ok bool) {
	sc := &d.sc
	if sc.skipSpace() != '{' {
		v, ok := sc.value(1)
		return v.kind, false, false, ok
	}
	s.Gauges = d.gauges[:0]
	more, ok := sc.open()
	for ok && more {
		var name string
		var v value
		if name, ok = sc.key(); !ok {
			break
		}
		if v, ok = sc.value(2); !ok {
			break
		}
		if len(s.Gauges) == MaxGauges {
			tooMany = true
		} else {
			f, isNumber := floatValue(v)
			badValue = badValue || !isNumber
			s.Gauges = append(s.Gauges, Gauge{Name: name, Value: f})
		}
		more, ok = sc.next()
	}
	return kindObject, tooMany, badValue, ok
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
	case s.Addr != "" && !ValidAddr(s.Addr):
		return ReasonAddr
	case s.Time.UnixMilli() <= 0 || s.Time.UnixMilli() > maxTimestampMillis:
		return ReasonTimestamp
	case s.Interval < MinInterval || s.Interval > MaxInterval:
		return ReasonInterval
	}
	return s.validateGauges()
}

// validateGauges applies the rules on a sample's gauges.
func (s *Sample) validateGauges() Reason {
	switch {
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

// exactPow10 are the powers of ten a float64 holds exactly.
var exactPow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// floatValue reads a number. Where both the number's digits and its power
// of ten are exact in a float64 (the gauges sidecars write: 41, 6.56e+06,
// 0.25), one multiplication or division rounds correctly (Clinger's fast
// path, the one strconv takes first); the rest is left to strconv.
func floatValue(v value) (float64, bool) {
	if v.kind != kindNumber {
		return 0, false
	}
	if mant, exp, ok := decimal(v.text); ok && mant <= 1<<53 && exp >= -22 && exp <= 22 {
		if exp < 0 {
			return float64(mant) / exactPow10[-exp], true
		}
		return float64(mant) * exactPow10[exp], true
	}
	f, err := strconv.ParseFloat(v.text, 64)
	return f, err == nil
}

// decimal reads a number literal that the scanner has checked as
// mant × 10^exp, if it has no sign and at most 18 significant digits (which
// cannot overflow).
func decimal(s string) (mant uint64, exp int, ok bool) {
	i, digits := 0, 0
	for ; i < len(s) && s[i]-'0' < 10; i++ {
		mant = mant*10 + uint64(s[i]-'0')
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		start := i
		for ; i < len(s) && s[i]-'0' < 10; i++ {
			mant = mant*10 + uint64(s[i]-'0')
			digits++
		}
		exp = start - i
	}
	if i < len(s) && s[i]|0x20 == 'e' {
		i++
		neg := i < len(s) && s[i] == '-'
		if i < len(s) && (s[i] == '+' || neg) {
			i++
		}
		e := 0
		for ; i < len(s) && s[i]-'0' < 10; i++ {
			e = min(e*10+int(s[i]-'0'), 1<<20) // far past any exact power
		}
		if neg {
			e = -e
		}
		exp += e
	}
	// A sign stops the first loop at once and is left to strconv.
	return mant, exp, i == len(s) && digits <= 18
}

// digitsValue is the fast path of the integer readers for the common case:
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
	last := name[len(name)-1]
	for _, suf := range reservedSuffixes {
		// The last byte first: it settles almost every name without a
		// comparison of the whole suffix.
		if last == suf[len(suf)-1] && strings.HasSuffix(name, suf) {
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

// ValidAddr reports whether s is a sample's address: "host:port", where
// host is an IPv4 address, an IPv6 address in brackets (without a zone: a
// zone names an interface of the pod, which no proxy can reach) or a DNS
// subdomain, and port is 1 to 65535 without leading zeros. A host of only
// digits and dots must be an IPv4 address, so that a mistyped IP is refused
// rather than taken for a name. It does not allocate for a valid address.
func ValidAddr(s string) bool {
	i := strings.LastIndexByte(s, ':')
	if i < 0 || !validPort(s[i+1:]) {
		return false
	}
	host := s[:i]
	if len(host) > 2 && host[0] == '[' && host[len(host)-1] == ']' {
		a, err := netip.ParseAddr(host[1 : len(host)-1])
		return err == nil && a.Is6() && a.Zone() == ""
	}
	if strings.Trim(host, "0123456789.") == "" {
		a, err := netip.ParseAddr(host)
		return err == nil && a.Is4()
	}
	return IsDNSSubdomain(host)
}

func validPort(s string) bool {
	if len(s) == 0 || len(s) > 5 || s[0] == '0' {
		return false
	}
	n, ok := digitsValue(s)
	return ok && n <= 65535
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
