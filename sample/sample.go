// Package sample defines rtcscale's wire format: the load samples that
// sidecars publish on NATS and the collector decodes. The format is
// versioned; docs/wire-format.md is its specification and this package is
// its only implementation.
package sample

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Version is the wire-format version this package writes and reads.
const Version = 1

// DefaultSubjectPrefix is the root of every sample subject. A sample of pod P
// in namespace N published by a sidecar of kind K goes to
// "<prefix>.N.K.P", so that a subscription or a publish permission can be
// scoped to a namespace ("rtcscale.load.v1.voice.>"), a kind
// ("rtcscale.load.v1.*.kamailio.*") or one pod.
const DefaultSubjectPrefix = "rtcscale.load.v1"

// Limits of the format. They bound what one publisher can make the
// collector hold.
const (
	// MaxSize is the largest encoded sample accepted, in bytes.
	MaxSize = 4096
	// MaxGauges is the most gauges one sample may carry.
	MaxGauges = 32
	// MinInterval and MaxInterval bound a sample's publish interval.
	MinInterval = 100 * time.Millisecond
	MaxInterval = 5 * time.Minute
)

// Kind is the kind of RTC server a sample describes.
type Kind uint8

// The kinds rtcscale knows. A sample of another kind is rejected rather
// than guessed at, so that a typo does not create a new fleet.
const (
	KindUnknown Kind = iota
	KindAsterisk
	KindFreeSWITCH
	KindJanus
	KindJVB
	KindKamailio
	KindLiveKit
	KindOpenSIPS
	KindRTPEngine
	numKinds
)

var kindNames = [numKinds]string{"", "asterisk", "freeswitch", "janus", "jvb", "kamailio", "livekit", "opensips", "rtpengine"}

// String returns the kind's wire name.
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// ParseKind returns the Kind of a wire name, or KindUnknown.
func ParseKind(s string) Kind {
	for k := KindAsterisk; k < numKinds; k++ {
		if kindNames[k] == s {
			return k
		}
	}
	return KindUnknown
}

// Kinds lists every known kind, in wire-name order.
func Kinds() []Kind {
	ks := make([]Kind, 0, numKinds-1)
	for k := KindAsterisk; k < numKinds; k++ {
		ks = append(ks, k)
	}
	return ks
}

// Well-known gauge names. Any other name matching the gauge-name pattern is
// allowed too (see ValidGaugeName); these are the ones rtcscale's sidecars
// publish and its dashboards show.
const (
	GaugeCalls             = "calls"              // concurrent calls (dialogs, sessions)
	GaugeChannels          = "channels"           // call legs / channels
	GaugeParticipants      = "participants"       // local conference participants (JVB)
	GaugeConferences       = "conferences"        // concurrent conferences
	GaugeLargestConference = "largest_conference" // participants in the largest conference
	GaugeBitrateIn         = "bitrate_in"         // received media, bit/s
	GaugeBitrateOut        = "bitrate_out"        // sent media, bit/s
	GaugePacketrateIn      = "packetrate_in"      // received media, packets/s
	GaugePacketrateOut     = "packetrate_out"     // sent media, packets/s
	GaugeStress            = "stress"             // load relative to capacity, 1 = full
)

// Gauge is one named value of a sample.
type Gauge struct {
	Name  string
	Value float64
}

// Sample is one load observation of one pod.
//
// A Sample filled by Decoder.Decode aliases the decoder's buffer: its
// strings are valid only until the next Decode. Copy them (strings.Clone)
// to keep them.
type Sample struct {
	Kind      Kind
	Namespace string
	Pod       string
	// Node and Region are optional placement labels.
	Node   string
	Region string
	// Addr is where the server takes calls, "host:port" (an IPv4 address,
	// a bracketed IPv6 address or a DNS name, and a port), as the proxy in
	// front lists it: the pod IP and the server's SIP port. Optional; a
	// Kamailio sidecar matches it against its dispatcher destinations to
	// stop sending new calls to a draining pod (docs/drain.md).
	Addr string
	// Time is when the sidecar observed the values, not when it sent them.
	Time time.Time
	// Seq increases by one per sample from the same sidecar process; it
	// restarts at 0 when the sidecar restarts.
	Seq uint64
	// Interval is how often the sidecar publishes. The collector treats a
	// sample as stale after a multiple of it.
	Interval time.Duration
	// Draining is set while the server refuses new calls (graceful
	// shutdown, drain mode).
	Draining bool
	Gauges   []Gauge
}

// Subject returns the NATS subject this sample is published on.
func (s *Sample) Subject(prefix string) string {
	return Subject(prefix, s.Namespace, s.Kind, s.Pod)
}

// Subject returns the subject of a pod's samples.
func Subject(prefix, namespace string, kind Kind, pod string) string {
	return prefix + "." + namespace + "." + kind.String() + "." + pod
}

// MatchesSubject reports whether subject is the sample's own,
// "<prefix>.<namespace>.<kind>.<pod>". NATS permissions scope a publisher
// to its subjects, so a reader that trusts them refuses a body naming
// another pod. It does not allocate.
func (s *Sample) MatchesSubject(prefix, subject string) bool {
	rest, ok := strings.CutPrefix(subject, prefix)
	if !ok || len(rest) == 0 || rest[0] != '.' {
		return false
	}
	rest = rest[1:]
	for _, want := range [...]string{s.Namespace, s.Kind.String()} {
		tok, tail, found := strings.Cut(rest, ".")
		if !found || tok != want {
			return false
		}
		rest = tail
	}
	return rest == s.Pod
}

// Gauge returns the value of the named gauge and whether the sample has it.
func (s *Sample) Gauge(name string) (float64, bool) {
	for _, g := range s.Gauges {
		if g.Name == name {
			return g.Value, true
		}
	}
	return 0, false
}

// AppendJSON appends the sample's JSON encoding to b. It does not validate:
// Validate first if the sample comes from outside the program.
func (s *Sample) AppendJSON(b []byte) []byte {
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, Version, 10)
	b = appendField(b, "kind", s.Kind.String())
	b = appendField(b, "namespace", s.Namespace)
	b = appendField(b, "pod", s.Pod)
	if s.Node != "" {
		b = appendField(b, "node", s.Node)
	}
	if s.Region != "" {
		b = appendField(b, "region", s.Region)
	}
	if s.Addr != "" {
		b = appendField(b, "addr", s.Addr)
	}
	b = append(b, `,"ts_ms":`...)
	b = strconv.AppendInt(b, s.Time.UnixMilli(), 10)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, s.Seq, 10)
	b = append(b, `,"interval_ms":`...)
	b = strconv.AppendInt(b, s.Interval.Milliseconds(), 10)
	if s.Draining {
		b = append(b, `,"draining":true`...)
	}
	b = append(b, `,"gauges":{`...)
	for i, g := range s.Gauges {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, g.Name)
		b = append(b, ':')
		b = strconv.AppendFloat(b, g.Value, 'g', -1, 64)
	}
	return append(b, "}}"...)
}

func appendField(b []byte, name, value string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return strconv.AppendQuote(b, value)
}

// Validate checks a sample built in a program (a sidecar, the demo) against
// the rules Decode applies, so that a publisher finds its own mistakes.
func (s *Sample) Validate() error {
	if r := s.validate(); r != Accepted {
		return fmt.Errorf("invalid sample: %s", r.Description())
	}
	return nil
}
