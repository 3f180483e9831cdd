package sample

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

func validSample() Sample {
	return Sample{
		Kind:      KindKamailio,
		Namespace: "voice",
		Pod:       "kamailio-7d9f6-x2x4z",
		Node:      "node-a.example",
		Region:    "eu-west-1",
		Addr:      "10.1.2.3:5060",
		Time:      time.UnixMilli(1763778245123),
		Seq:       42,
		Interval:  5 * time.Second,
		Draining:  true,
		Gauges:    []Gauge{{GaugeCalls, 40}, {GaugeBitrateIn, 3.2e6}, {GaugeStress, 0.375}},
	}
}

func TestRoundTrip(t *testing.T) {
	in := validSample()
	if err := in.Validate(); err != nil {
		t.Fatal(err)
	}
	var d Decoder
	var out Sample
	if r := d.Decode(in.AppendJSON(nil), &out); r != Accepted {
		t.Fatalf("rejected: %s", r.Description())
	}
	if out.Kind != in.Kind || out.Namespace != in.Namespace || out.Pod != in.Pod || out.Node != in.Node ||
		out.Region != in.Region || out.Addr != in.Addr || !out.Time.Equal(in.Time) || out.Seq != in.Seq || out.Interval != in.Interval ||
		out.Draining != in.Draining || len(out.Gauges) != len(in.Gauges) {
		t.Fatalf("got %+v, want %+v", out, in)
	}
	for i := range in.Gauges {
		if out.Gauges[i] != in.Gauges[i] {
			t.Fatalf("gauge %d: got %+v, want %+v", i, out.Gauges[i], in.Gauges[i])
		}
	}
	if v, ok := out.Gauge(GaugeStress); !ok || v != 0.375 {
		t.Fatalf("stress = %v, %v", v, ok)
	}
	if got, want := in.Subject(DefaultSubjectPrefix), "rtcscale.load.v1.voice.kamailio.kamailio-7d9f6-x2x4z"; got != want {
		t.Fatalf("subject %q, want %q", got, want)
	}
}

func TestDocumentedExampleDecodes(t *testing.T) {
	// The example of docs/wire-format.md.
	const doc = `{"v":1,"kind":"asterisk","namespace":"voice","pod":"asterisk-0","node":"node-a",
	  "region":"eu-west-1","ts_ms":1763778245123,"seq":1042,"interval_ms":5000,"draining":false,
	  "gauges":{"calls":40,"channels":80,"bitrate_in":6400000,"bitrate_out":6400000},"future_field":{"x":1}}`
	var d Decoder
	var s Sample
	if r := d.Decode([]byte(doc), &s); r != Accepted {
		t.Fatalf("rejected: %s", r.Description())
	}
	if v, _ := s.Gauge(GaugeChannels); v != 80 || s.Kind != KindAsterisk || s.Seq != 1042 {
		t.Fatalf("decoded %+v", s)
	}
}

func TestRejections(t *testing.T) {
	base := `{"v":1,"kind":"kamailio","namespace":"voice","pod":"p-1","ts_ms":1763778245123,"interval_ms":5000,"gauges":{"calls":1}}`
	edit := func(old, new string) string {
		if !strings.Contains(base, old) {
			t.Fatalf("test bug: %q not in base", old)
		}
		return strings.Replace(base, old, new, 1)
	}
	many := make([]string, MaxGauges+1)
	for i := range many {
		many[i] = `"g` + string(rune('a'+i/26)) + string(rune('a'+i%26)) + `":1`
	}
	cases := []struct {
		name string
		in   string
		want Reason
	}{
		{"ok", base, Accepted},
		{"too large", base + strings.Repeat(" ", MaxSize), ReasonTooLarge},
		{"not json", `{"v":1,`, ReasonMalformed},
		{"array", `[1,2]`, ReasonMalformed},
		{"empty", ``, ReasonMalformed},
		{"no version", edit(`"v":1,`, ``), ReasonVersion},
		{"version 2", edit(`"v":1`, `"v":2`), ReasonVersion},
		{"version string", edit(`"v":1`, `"v":"1"`), ReasonVersion},
		{"unknown kind", edit(`"kamailio"`, `"sipserver"`), ReasonKind},
		{"kind number", edit(`"kamailio"`, `7`), ReasonKind},
		{"no kind", edit(`"kind":"kamailio",`, ``), ReasonKind},
		{"namespace upper", edit(`"voice"`, `"Voice"`), ReasonNamespace},
		{"namespace dot", edit(`"voice"`, `"a.b"`), ReasonNamespace},
		{"namespace empty", edit(`"voice"`, `""`), ReasonNamespace},
		{"namespace long", edit(`"voice"`, `"`+strings.Repeat("a", 64)+`"`), ReasonNamespace},
		{"pod wildcard", edit(`"p-1"`, `"*"`), ReasonPod},
		{"pod subject token", edit(`"p-1"`, `"p.>"`), ReasonPod},
		{"pod dash end", edit(`"p-1"`, `"p-"`), ReasonPod},
		{"node", edit(`"pod":"p-1",`, `"pod":"p-1","node":"a..b",`), ReasonNode},
		{"region injection", edit(`"pod":"p-1",`, `"pod":"p-1","region":"eu\",x=\"y"`+`,`), ReasonRegion},
		{"addr", edit(`"pod":"p-1",`, `"pod":"p-1","addr":"10.1.2.3:5060",`), Accepted},
		{"addr without port", edit(`"pod":"p-1",`, `"pod":"p-1","addr":"10.1.2.3",`), ReasonAddr},
		{"addr number", edit(`"pod":"p-1",`, `"pod":"p-1","addr":5060,`), ReasonAddr},
		{"addr empty", edit(`"pod":"p-1",`, `"pod":"p-1","addr":"",`), ReasonAddr},
		{"no ts", edit(`"ts_ms":1763778245123,`, ``), ReasonTimestamp},
		{"ts float", edit(`1763778245123`, `1.5`), ReasonTimestamp},
		{"ts negative", edit(`1763778245123`, `-5`), ReasonTimestamp},
		{"ts year 10000", edit(`1763778245123`, `253402300800000`), ReasonTimestamp},
		{"seq negative", edit(`"interval_ms"`, `"seq":-1,"interval_ms"`), ReasonMalformed},
		{"no interval", edit(`"interval_ms":5000,`, ``), ReasonInterval},
		{"interval tiny", edit(`5000`, `10`), ReasonInterval},
		{"interval huge", edit(`5000`, `3600000`), ReasonInterval},
		{"draining string", edit(`"gauges"`, `"draining":"yes","gauges"`), ReasonMalformed},
		{"no gauges", edit(`,"gauges":{"calls":1}`, ``), ReasonNoGauges},
		{"empty gauges", edit(`{"calls":1}`, `{}`), ReasonNoGauges},
		{"gauges array", edit(`{"calls":1}`, `[1]`), ReasonMalformed},
		{"too many gauges", edit(`{"calls":1}`, `{`+strings.Join(many, ",")+`}`), ReasonTooManyGauges},
		{"gauge upper", edit(`"calls"`, `"Calls"`), ReasonGaugeName},
		{"gauge label injection", edit(`"calls"`, `"calls{x=\"1\"}"`), ReasonGaugeName},
		{"gauge reserved", edit(`"calls"`, `"calls_forecast"`), ReasonGaugeName},
		{"duplicate gauge", edit(`{"calls":1}`, `{"calls":1,"calls":2}`), ReasonDuplicateGauge},
		{"negative", edit(`"calls":1`, `"calls":-1`), ReasonValue},
		{"string value", edit(`"calls":1`, `"calls":"1"`), ReasonValue},
		{"huge", edit(`"calls":1`, `"calls":1e300`), ReasonValue},
		{"out of float64", edit(`"calls":1`, `"calls":1e999`), ReasonValue},
		{"nan", edit(`"calls":1`, `"calls":NaN`), ReasonMalformed}, // not JSON
		{"inf", edit(`"calls":1`, `"calls":Infinity`), ReasonMalformed},
		{"leading zero", edit(`"calls":1`, `"calls":01`), ReasonMalformed},
		{"bare fraction", edit(`"calls":1`, `"calls":1.`), ReasonMalformed},
		{"trailing data", edit(`}}`, `}} x`), ReasonMalformed},
		{"trailing comma", edit(`"calls":1`, `"calls":1,`), ReasonMalformed},
		{"control character", edit(`"voice"`, "\"vo\tice\""), ReasonMalformed},
		{"bad escape", edit(`"voice"`, `"vo\ice"`), ReasonMalformed},
		{"escaped namespace", edit(`"voice"`, `"vo\u0069ce"`), Accepted},
		{"unknown nested field", edit(`"gauges"`, `"x":{"y":[1,{"z":null}]},"gauges"`), Accepted},
		{"broken unknown field", edit(`"gauges"`, `"x":[1,}],"gauges"`), ReasonMalformed},
	}
	var d Decoder
	for _, c := range cases {
		var s Sample
		got := d.Decode([]byte(c.in), &s)
		if got != c.want {
			t.Errorf("%s: got %q (%s), want %q", c.name, got, got.Description(), c.want)
		}
	}
}

func TestEveryReasonHasALabel(t *testing.T) {
	seen := map[string]bool{}
	for r := Accepted + 1; r < NumReasons; r++ {
		if r.String() == "" || r.Description() == "" || seen[r.String()] {
			t.Errorf("reason %d: label %q description %q", r, r.String(), r.Description())
		}
		seen[r.String()] = true
	}
}

func TestValidAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"10.1.2.3:5060":                      true,
		"127.0.0.1:1":                        true,
		"10.1.2.3:65535":                     true,
		"[fd00::1:2]:5060":                   true,
		"[::ffff:10.1.2.3]:5060":             true,
		"asterisk-0.asterisk.voice.svc:5060": true,
		"asterisk-0:5080":                    true,
		"10.1.2.3":                           false, // a port is required
		"10.1.2.3:":                          false,
		"10.1.2.3:0":                         false,
		"10.1.2.3:65536":                     false,
		"10.1.2.3:05060":                     false,
		"10.1.2.3:+5060":                     false,
		"10.1.2.3:5060;transport=udp":        false, // an address, not a URI
		"sip:10.1.2.3:5060":                  false,
		"10.1.2.300:5060":                    false, // digits and dots: an IPv4 address or nothing
		"10.1.2:5060":                        false,
		"010.1.2.3:5060":                     false,
		"fd00::1:5060":                       false, // IPv6 needs brackets
		"[fd00::1]":                          false,
		"[fe80::1%eth0]:5060":                false, // a zone is the pod's own
		"[10.1.2.3]:5060":                    false,
		"[]:5060":                            false,
		":5060":                              false,
		"Asterisk-0:5060":                    false, // DNS names are lower case
		"a..b:5060":                          false,
		"":                                   false,
	} {
		if got := ValidAddr(addr); got != want {
			t.Errorf("ValidAddr(%q) = %v, want %v", addr, got, want)
		}
	}
	s := validSample()
	s.Addr = "10.1.2.3"
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "addr") {
		t.Fatalf("address without a port: %v", err)
	}
}

func TestMatchesSubject(t *testing.T) {
	s := validSample()
	for subject, want := range map[string]bool{
		"rtcscale.load.v1.voice.kamailio.kamailio-7d9f6-x2x4z":   true,
		"rtcscale.load.v1.voice.kamailio.kamailio-7d9f6-x2x4z.x": false,
		"rtcscale.load.v1.voice.asterisk.kamailio-7d9f6-x2x4z":   false,
		"rtcscale.load.v1.other.kamailio.kamailio-7d9f6-x2x4z":   false,
		"rtcscale.load.v2.voice.kamailio.kamailio-7d9f6-x2x4z":   false,
		"rtcscale.load.v1voice.kamailio.kamailio-7d9f6-x2x4z":    false,
		"rtcscale.load.v1": false,
		"":                 false,
	} {
		if got := s.MatchesSubject(DefaultSubjectPrefix, subject); got != want {
			t.Errorf("MatchesSubject(%q) = %v, want %v", subject, got, want)
		}
	}
}

func TestValidateCatchesPublisherMistakes(t *testing.T) {
	s := validSample()
	s.Gauges = append(s.Gauges, Gauge{"calls", 3})
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("duplicate gauge: %v", err)
	}
	s = validSample()
	s.Interval = 0
	if s.Validate() == nil {
		t.Fatal("zero interval accepted")
	}
}

func TestDecodeDoesNotAllocate(t *testing.T) {
	b := encode(validSample())
	var d Decoder
	var s Sample
	d.Decode(b, &s)
	if n := testing.AllocsPerRun(100, func() { d.Decode(b, &s) }); n != 0 {
		t.Fatalf("Decode allocates %v times per sample", n)
	}
}

// TestNumbersReadAsStrconvReadsThem covers the decoder's own number reading
// at the edges of its exact fast path (18 digits, 2^53, 10^±22) and past
// them, where strconv takes over: every gauge value and integer field must
// be what strconv makes of the literal.
func TestNumbersReadAsStrconvReadsThem(t *testing.T) {
	for _, lit := range []string{
		"0", "0.0", "0e0", "1", "41", "6.56e+06", "6.56E6", "0.375", "0.1", "0.3", "1.5e-22", "3e-23",
		"9007199254740992", "9007199254740993", "123456789012345678", "1234567890123456789",
		"1e22", "1e23", "4.5e15", "999999999999999.9", "0.000000000000000000001", "100e-2",
		"12345678901234567890123", "1e-400", "2.2250738585072014e-308", "1e15", "1000000000000000.5",
	} {
		data := []byte(`{"v":1,"kind":"jvb","namespace":"a","pod":"b","ts_ms":1,"interval_ms":100,"gauges":{"g":` + lit + `}}`)
		want, err := strconv.ParseFloat(lit, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			t.Fatal(err)
		}
		var d Decoder
		var s Sample
		r := d.Decode(data, &s)
		if want > maxValue {
			if r != ReasonValue {
				t.Errorf("%s: %s, want %s", lit, r, ReasonValue)
			}
			continue
		}
		if r != Accepted || s.Gauges[0].Value != want {
			t.Errorf("%s: %s %v, strconv reads %v", lit, r, s.Gauges, want)
		}
	}
	for lit, want := range map[string]Reason{
		"1763778245123": Accepted, "017": ReasonMalformed, "1.0": ReasonTimestamp, "1e3": ReasonTimestamp,
		"-5": ReasonTimestamp, "253402300799999": Accepted, "253402300800000": ReasonTimestamp,
		"99999999999999999999": ReasonTimestamp,
	} {
		data := []byte(`{"v":1,"kind":"jvb","namespace":"a","pod":"b","ts_ms":` + lit + `,"interval_ms":100,"gauges":{"g":1}}`)
		var d Decoder
		var s Sample
		if r := d.Decode(data, &s); r != want {
			t.Errorf("ts_ms %s: %s, want %s", lit, r, want)
		} else if want, _ := strconv.ParseInt(lit, 10, 64); r == Accepted && s.Time.UnixMilli() != want {
			t.Errorf("ts_ms %s read as %d", lit, s.Time.UnixMilli())
		}
	}
}

func TestKinds(t *testing.T) {
	for _, k := range Kinds() {
		if ParseKind(k.String()) != k {
			t.Errorf("kind %s does not round-trip", k)
		}
	}
	if ParseKind("") != KindUnknown || ParseKind("KAMAILIO") != KindUnknown {
		t.Fatal("bad kind parsed")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encode(validSample()))
	f.Add([]byte(`{"v":1,"kind":"jvb","namespace":"a","pod":"b","ts_ms":1,"interval_ms":100,"gauges":{"participants":0}}`))
	f.Add([]byte(`{"v":1,"gauges":{"a":1e999}}`))
	f.Add([]byte(`{"v":1,"kind":"asterisk","namespace":"a","pod":"b","addr":"[fd00::1]:5060","ts_ms":1,"interval_ms":100,"gauges":{"calls":0},"draining":true}`))
	f.Add([]byte(`{"v":1,"kind":"jvb","namespace":"\u0061","pod":"b\/","ts_ms":1,"interval_ms":100,"gauges":{"x":0},"extra":[{"a":[1,-0.5e+3,true,false,null,"\ud83d\ude00"]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var d Decoder
		var s Sample
		r := d.Decode(data, &s)
		// The scanner is strict: what encoding/json calls invalid is
		// malformed (or too large) and nothing else.
		if !json.Valid(data) && r != ReasonMalformed && r != ReasonTooLarge {
			t.Fatalf("invalid JSON %q: %s, want %s", data, r, ReasonMalformed)
		}
		if r != Accepted {
			return
		}
		// An accepted sample holds what encoding/json reads in it. (Into
		// maps: a struct would match keys regardless of case.)
		var std struct {
			fields                                   map[string]json.RawMessage
			Namespace, Pod, Node, Region, Addr, Kind string
			Gauges                                   map[string]float64
		}
		if err := json.Unmarshal(data, &std.fields); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", data, err)
		}
		for key, into := range map[string]any{"namespace": &std.Namespace, "pod": &std.Pod, "node": &std.Node,
			"region": &std.Region, "addr": &std.Addr, "kind": &std.Kind, "gauges": &std.Gauges} {
			if raw, ok := std.fields[key]; ok {
				if err := json.Unmarshal(raw, into); err != nil {
					t.Fatalf("accepted %q, but encoding/json reads its %s as %v", data, key, err)
				}
			}
		}
		if std.Namespace != s.Namespace || std.Pod != s.Pod || std.Node != s.Node || std.Region != s.Region || std.Addr != s.Addr ||
			std.Kind != s.Kind.String() || len(std.Gauges) != len(s.Gauges) {
			t.Fatalf("decoded %q as %+v, encoding/json as %+v", data, s, std)
		}
		for _, g := range s.Gauges {
			if v, ok := std.Gauges[g.Name]; !ok || v != g.Value {
				t.Fatalf("decoded %q: gauge %s = %v, encoding/json: %v", data, g.Name, g.Value, std.Gauges)
			}
		}
		// An accepted sample re-encodes to one that decodes to the same.
		again := s.AppendJSON(nil)
		var s2 Sample
		var d2 Decoder
		if r := d2.Decode(again, &s2); r != Accepted {
			t.Fatalf("re-encoded sample rejected (%s): %s", r, again)
		}
		if s2.Pod != s.Pod || s2.Namespace != s.Namespace || s2.Addr != s.Addr || len(s2.Gauges) != len(s.Gauges) || !s2.Time.Equal(s.Time) {
			t.Fatalf("round trip changed %+v into %+v", s, s2)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	data := encode(validSample())
	b.Run("decode", func(b *testing.B) {
		var d Decoder
		var s Sample
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if d.Decode(data, &s) != Accepted {
				b.Fatal("rejected")
			}
		}
	})
	// A yardstick, not a decoder: one pass that only sums the bytes. The
	// machines rtcscale is measured on differ several-fold in speed; the
	// ratio of decode to this floor does not.
	b.Run("floor", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		sum := 0
		for b.Loop() {
			for _, c := range data {
				sum += int(c)
			}
		}
		if sum == 0 {
			b.Fatal("no bytes summed")
		}
	})
}

func encode(s Sample) []byte { return s.AppendJSON(nil) }
