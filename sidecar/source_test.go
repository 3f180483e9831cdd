package sidecar

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/rtcscale/rtcscale/sample"
)

// serve answers every request with body and records the last request.
func serve(t *testing.T, status int, body []byte, last *string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := io.ReadAll(r.Body)
		if last != nil {
			*last = r.Method + " " + r.URL.Path + " " + string(req)
		}
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestSourcesOverHTTP(t *testing.T) {
	for _, c := range []struct {
		kind    sample.Kind
		opts    Options
		path    string
		fixture string
		request string
		calls   string // gauge checked
		want    float64
	}{
		{sample.KindKamailio, Options{}, "/RPC", "kamailio-stats-fetch.json", `POST /RPC {"jsonrpc":"2.0","method":"stats.fetch","params":["dialog:"],"id":1}`, "calls", 5},
		{sample.KindKamailio, Options{KamailioMethod: KamailioDialogStats}, "/RPC", "kamailio-dlg-stats-active.json", `POST /RPC {"jsonrpc":"2.0","method":"dlg.stats_active","id":1}`, "calls", 41},
		{sample.KindRTPEngine, Options{}, "/ng-plain", "rtpengine-statistics.json", `POST /ng-plain {"command":"statistics"}`, "bitrate_out", 8 * 192000},
		{sample.KindRTPEngine, Options{}, "/metrics", "rtpengine-metrics-busy.txt", `GET /metrics `, "calls", 3},
		{sample.KindJVB, Options{}, "/colibri/stats", "jvb-colibri-stats.json", `GET /colibri/stats `, "participants", 10},
		{sample.KindAsterisk, Options{}, "/metrics", "asterisk-metrics.txt", `GET /metrics `, "channels", 46},
	} {
		var last string
		c.opts.URL = serve(t, http.StatusOK, fixture(t, c.fixture), &last) + c.path
		src, err := New(c.kind, c.opts)
		if err != nil {
			t.Fatal(err)
		}
		if src.Kind() != c.kind {
			t.Errorf("%s source says it reads %s", c.kind, src.Kind())
		}
		r, err := src.Read(context.Background())
		if err != nil {
			t.Errorf("%s %s: %v", c.kind, c.fixture, err)
			continue
		}
		if last != c.request {
			t.Errorf("%s asked %q, want %q", c.kind, last, c.request)
		}
		if v, ok := (&sample.Sample{Gauges: r.Gauges}).Gauge(c.calls); !ok || v != c.want {
			t.Errorf("%s %s: %s = %v, want %v", c.kind, c.fixture, c.calls, v, c.want)
		}
	}
}

func TestHTTPFailures(t *testing.T) {
	ctx := context.Background()
	src, _ := New(sample.KindJVB, Options{URL: serve(t, http.StatusServiceUnavailable, []byte("REST API disabled"), nil)})
	if _, err := src.Read(ctx); err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "REST API disabled") {
		t.Errorf("503: %v", err)
	}
	huge := make([]byte, maxReply+10)
	src, _ = New(sample.KindJVB, Options{URL: serve(t, http.StatusOK, huge, nil)})
	if _, err := src.Read(ctx); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("huge reply: %v", err)
	}
	src, _ = New(sample.KindKamailio, Options{URL: serve(t, http.StatusOK, []byte(`{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method Not Found"},"id":1}`), nil)})
	if _, err := src.Read(ctx); err == nil || !strings.Contains(err.Error(), "kamailio stats.fetch: JSON-RPC error -32601: Method Not Found") {
		t.Errorf("RPC error: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close() // nothing listens there now
	src, _ = New(sample.KindAsterisk, Options{URL: "http://" + ln.Addr().String() + "/metrics"})
	if _, err := src.Read(ctx); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("server down: %v", err)
	}
}

func TestNewRefuses(t *testing.T) {
	for name, c := range map[string]struct {
		kind sample.Kind
		opts Options
		err  string
	}{
		"kind without source": {sample.KindFreeSWITCH, Options{}, "no sidecar source"},
		"kamailio method":     {sample.KindKamailio, Options{KamailioMethod: "core.uptime"}, "unknown Kamailio RPC method"},
		"AMI without user":    {sample.KindAsterisk, Options{URL: "tcp://127.0.0.1:5038"}, "manager user"},
		"AMI without port":    {sample.KindAsterisk, Options{URL: "tcp://", AMIUser: "u"}, "no host:port"},
		"asterisk scheme":     {sample.KindAsterisk, Options{URL: "udp://127.0.0.1:5038"}, "want http"},
		"asterisk drain":      {sample.KindAsterisk, Options{AsteriskDrain: "now"}, `unknown Asterisk drain "now" (want gracefully or when-convenient)`},
		"AMI URL for drain":   {sample.KindAsterisk, Options{AMIURL: "127.0.0.1:5038"}, "want tcp://host:port"},
		"jvb drain":           {sample.KindJVB, Options{JVBDrain: "graceful"}, `unknown JVB drain "graceful" (want drain or shutdown)`},
		"rtpengine CLI":       {sample.KindRTPEngine, Options{RTPEngineCLI: "9900"}, "want host:port"},
	} {
		if _, err := New(c.kind, c.opts); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: %v, want an error containing %q", name, err, c.err)
		}
	}
}

// rtpengine's rates come from two readings of its counters.
func TestRTPEngineRatesFromMetrics(t *testing.T) {
	bodies := [][]byte{fixture(t, "rtpengine-metrics-idle.txt"), fixture(t, "rtpengine-metrics-busy.txt"), fixture(t, "rtpengine-metrics-idle.txt")}
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write(bodies[n])
		n++
	}))
	defer srv.Close()
	src, _ := New(sample.KindRTPEngine, Options{URL: srv.URL + "/metrics"})
	e := src.(*rtpengine)
	now := time.Unix(1000, 0)
	e.now = func() time.Time { return now }

	r, err := e.Read(context.Background())
	if err != nil || len(r.Gauges) != 1 || r.Gauges[0] != (sample.Gauge{Name: sample.GaugeCalls, Value: 0}) {
		t.Fatalf("first reading: %+v, %v; want the session count alone", r, err)
	}
	now = now.Add(2 * time.Second) // 8600 bytes and 50 packets in 2 s
	r, err = e.Read(context.Background())
	want := []sample.Gauge{{Name: "calls", Value: 3}, {Name: "bitrate_in", Value: 34400}, {Name: "bitrate_out", Value: 34400}, {Name: "packetrate_in", Value: 25}, {Name: "packetrate_out", Value: 25}}
	if err != nil || len(r.Gauges) != len(want) {
		t.Fatalf("second reading: %+v, %v; want %v", r, err, want)
	}
	for i := range want {
		if r.Gauges[i] != want[i] {
			t.Errorf("second reading: %v, want %v", r.Gauges, want)
			break
		}
	}
	now = now.Add(2 * time.Second) // counters back to 0: rtpengine restarted
	if r, err = e.Read(context.Background()); err != nil || len(r.Gauges) != 1 {
		t.Errorf("after a restart: %+v, %v; want the session count alone", r, err)
	}
}

// fakeAMI is an Asterisk manager interface on loopback that answers
// CoreShowChannels with a fixture. Asterisk does not run here; the
// protocol is small and documented.
type fakeAMI struct {
	ln     net.Listener
	answer string
	secret string
	conns  chan net.Conn
	// action, if set, sees every action first and says whether it
	// answered it (the fake answers the others as above).
	action func(c net.Conn, h textproto.MIMEHeader) bool
}

func startFakeAMI(t *testing.T, answer []byte, secret string) *fakeAMI {
	return serveFakeAMI(t, &fakeAMI{answer: string(answer), secret: secret})
}

// serveFakeAMI starts a, set up but for its listener.
func serveFakeAMI(t *testing.T, a *fakeAMI) *fakeAMI {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a.ln, a.conns = ln, make(chan net.Conn, 8)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			a.conns <- c
			go a.serve(c)
		}
	}()
	return a
}

func (a *fakeAMI) serve(c net.Conn) {
	defer c.Close()
	c.Write([]byte("Asterisk Call Manager/9.0.0\r\n"))
	tp := textproto.NewReader(bufio.NewReader(c))
	for {
		h, err := tp.ReadMIMEHeader()
		if err != nil {
			return
		}
		if a.action != nil && a.action(c, h) {
			continue
		}
		id := h.Get("Actionid")
		switch h.Get("Action") {
		case "Login":
			if h.Get("Username") != "rtcscale" || h.Get("Secret") != a.secret || h.Get("Events") != "off" {
				c.Write([]byte("Response: Error\r\nActionID: " + id + "\r\nMessage: Authentication failed\r\n\r\n"))
				return
			}
			c.Write([]byte("Response: Success\r\nActionID: " + id + "\r\nMessage: Authentication accepted\r\n\r\n"))
		case "CoreShowChannels":
			c.Write([]byte(strings.ReplaceAll(a.answer, "ActionID: 1\r\n", "ActionID: "+id+"\r\n")))
		}
	}
}

func TestAsteriskAMI(t *testing.T) {
	ami := startFakeAMI(t, crlf(fixture(t, "asterisk-ami-coreshowchannels.txt")), "s3cret")
	src, err := New(sample.KindAsterisk, Options{URL: "tcp://" + ami.ln.Addr().String(), AMIUser: "rtcscale", AMISecret: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 2 {
		r, err := src.Read(ctx)
		if err != nil || len(r.Gauges) != 2 || r.Gauges[0].Value != 2 || r.Gauges[1].Value != 3 {
			t.Fatalf("read %d: %+v, %v; want 2 calls, 3 channels", i, r, err)
		}
	}
	first := <-ami.conns
	if len(ami.conns) != 0 {
		t.Error("the session was not kept between polls")
	}
	// Asterisk restarts: the session breaks, one poll fails, the next
	// logs in again.
	first.Close()
	if _, err := src.Read(ctx); err == nil {
		t.Error("a read on a closed session did not fail")
	}
	if r, err := src.Read(ctx); err != nil || len(r.Gauges) != 2 {
		t.Errorf("after reconnecting: %+v, %v", r, err)
	}

	bad, _ := New(sample.KindAsterisk, Options{URL: "tcp://" + ami.ln.Addr().String(), AMIUser: "rtcscale", AMISecret: "wrong"})
	if _, err := bad.Read(ctx); err == nil || !strings.Contains(err.Error(), "login refused: Authentication failed") {
		t.Errorf("wrong secret: %v", err)
	}

	// Something else listening on the port.
	notAMI := serve(t, http.StatusOK, nil, nil)
	src, _ = New(sample.KindAsterisk, Options{URL: "tcp://" + strings.TrimPrefix(notAMI, "http://"), AMIUser: "rtcscale"})
	short, cancelShort := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancelShort()
	if _, err := src.Read(short); err == nil {
		t.Error("an HTTP server passed for AMI")
	}
}
