// Package sidecar reads the load of one RTC server through the server's own
// interface (Kamailio's JSON-RPC, rtpengine's statistics, Jitsi
// Videobridge's colibri stats, Asterisk's res_prometheus or AMI) and
// publishes it as wire-format samples for the server's pod.
//
// Each source is a thin client around a pure parser over the server's reply
// bytes; the parsers are what the tests and fuzzers exercise. Run polls a
// Source at an interval and publishes; when a read fails it publishes
// nothing, so the pod's last sample goes stale in the collector instead of
// being replaced by a guess.
package sidecar

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/rtcscale/rtcscale/sample"
)

// Reading is one observation of a server: its gauges, in the units of the
// wire format (bit/s, packets/s, counts), and whether it refuses new calls.
type Reading struct {
	Gauges   []sample.Gauge
	Draining bool
}

// Source reads the load of one server.
type Source interface {
	// Kind is the kind of server read, the sample's kind.
	Kind() sample.Kind
	// Read asks the server for its current load. An error means the
	// server could not be read or answered something unusable; nothing is
	// published for that poll.
	Read(ctx context.Context) (Reading, error)
}

// Options configure a source. The zero value of a field means its default.
type Options struct {
	// URL is the server's endpoint; DefaultURL gives the default of each
	// kind. Its scheme and path choose the interface where a server has
	// several (see each source).
	URL string
	// KamailioMethod is the RPC method Kamailio is asked:
	// "stats.fetch" (default) or "dlg.stats_active".
	KamailioMethod string
	// AMIUser and AMISecret log in to Asterisk's manager interface.
	AMIUser, AMISecret string
	// AMIURL is the manager interface (tcp://host:port) that drains
	// Asterisk, for a URL that reads res_prometheus over http. Default:
	// URL when that is a tcp:// URL, else tcp://127.0.0.1:5038 (Asterisk's
	// default manager port).
	AMIURL string
	// AsteriskDrain is the CLI command that drains Asterisk:
	// AsteriskDrainGracefully (default) or AsteriskDrainWhenConvenient.
	AsteriskDrain string
	// JVBDrain is how a Jitsi Videobridge is drained: JVBDrainMode
	// (default) or JVBGracefulShutdown.
	JVBDrain string
	// RTPEngineCLI is rtpengine's command-line interface (its
	// --listen-cli), host:port, that drains it. Default 127.0.0.1:9900,
	// where rtpengine-ctl looks.
	RTPEngineCLI string
	// Client makes HTTP requests. Default: a client with no proxy, since
	// the server is always on the pod's loopback.
	Client *http.Client
}

// DefaultURL returns where a server of kind k is read unless told
// otherwise, or "" for a kind the sidecar does not read.
func DefaultURL(k sample.Kind) string {
	switch k {
	case sample.KindKamailio:
		return "http://127.0.0.1:8080/RPC"
	case sample.KindRTPEngine:
		return "http://127.0.0.1:2225/metrics"
	case sample.KindJVB:
		return "http://127.0.0.1:8080/colibri/stats"
	case sample.KindAsterisk:
		return "http://127.0.0.1:8088/metrics"
	}
	return ""
}

// SourceKinds lists the kinds New accepts.
func SourceKinds() []sample.Kind {
	return []sample.Kind{sample.KindAsterisk, sample.KindJVB, sample.KindKamailio, sample.KindRTPEngine}
}

// ParseSourceKind returns the kind a --source names, or an error that lists
// the kinds the sidecar reads.
func ParseSourceKind(s string) (sample.Kind, error) {
	if s == "" {
		return sample.KindUnknown, fmt.Errorf("none given: want one of %s", kindList(SourceKinds()))
	}
	k := sample.ParseKind(s)
	if slices.Contains(SourceKinds(), k) {
		return k, nil
	}
	return sample.KindUnknown, fmt.Errorf("unknown source %q: want one of %s", s, kindList(SourceKinds()))
}

// New returns the source for a server of kind k.
func New(k sample.Kind, o Options) (Source, error) {
	if o.URL == "" {
		o.URL = DefaultURL(k)
	}
	if o.Client == nil {
		o.Client = &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConns: 1}}
	}
	switch k {
	case sample.KindKamailio:
		return newKamailio(o)
	case sample.KindRTPEngine:
		return newRTPEngine(o)
	case sample.KindJVB:
		return newJVB(o)
	case sample.KindAsterisk:
		return newAsterisk(o)
	}
	return nil, fmt.Errorf("no sidecar source for kind %q (the sidecar reads %s)", k, kindList(SourceKinds()))
}

// kindList names kinds for a message: "asterisk, jvb, kamailio, rtpengine".
func kindList(ks []sample.Kind) string {
	names := make([]string, len(ks))
	for i, k := range ks {
		names[i] = k.String()
	}
	return strings.Join(names, ", ")
}

// maxReply bounds a server's reply: a load report is a few kilobytes, and a
// reply that never ends must not exhaust the sidecar's small memory limit.
const maxReply = 1 << 20

// httpRequest sends one request to a local server and returns the body of
// a 200 reply.
func httpRequest(ctx context.Context, client *http.Client, method, url string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxReply+1))
	if err != nil {
		return nil, fmt.Errorf("reading the reply of %s: %w", url, err)
	}
	if len(data) > maxReply {
		return nil, fmt.Errorf("the reply of %s is larger than %d bytes", url, maxReply)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &statusError{method: method, url: url, status: resp.Status, code: resp.StatusCode, body: data}
	}
	return data, nil
}

// statusError is a reply with another HTTP status than 200: the server is
// up, and says why it does not answer.
type statusError struct {
	method, url, status string
	code                int
	body                []byte
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: %s: %s", e.method, e.url, e.status, snippet(e.body))
}

// fetch asks a server over HTTP and parses its reply; what names the reply
// in errors.
func fetch(ctx context.Context, client *http.Client, method, url string, req []byte, what string, parse func([]byte) (Reading, error)) (Reading, error) {
	body, err := httpRequest(ctx, client, method, url, req)
	if err != nil {
		return Reading{}, err
	}
	r, err := parse(body)
	if err != nil {
		return Reading{}, fmt.Errorf("%s: %w", what, err)
	}
	return r, nil
}

// snippet shortens a reply for an error message.
func snippet(b []byte) string {
	const max = 200
	s := strings.TrimSpace(string(b))
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strconv.Quote(s)
}

// count is a JSON value that servers write either as a number or as a
// string holding one (Kamailio's statistics, some of rtpengine's). Only
// finite values from 0 up are load; anything else is an error, so that a
// bad reply is refused rather than published.
type count float64

func (c *count) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		s = strings.TrimSpace(s)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("%s is not a number", snippetString(s))
	}
	if err := checkValue(v); err != nil {
		return err
	}
	*c = count(v)
	return nil
}

func snippetString(s string) string { return snippet([]byte(s)) }

// checkValue refuses what no load gauge can be.
func checkValue(v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return fmt.Errorf("%v is not a load value (finite, not negative)", v)
	}
	return nil
}

var errNoValue = errors.New("missing")

// required returns the value of a field the reply must have.
func required(name string, c *count) (float64, error) {
	if c == nil {
		return 0, fmt.Errorf("%s: %w", name, errNoValue)
	}
	return float64(*c), nil
}
