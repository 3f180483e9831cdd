package sidecar

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/rtcscale/rtcscale/sample"
)

// fakeJVB is a bridge's private REST API on loopback, replaying recorded
// replies: /colibri/stats answers before until a drain request was
// answered 200, after from then on; the drain request, whatever its path,
// gets the recorded HTTP response drainReply.
type fakeJVB struct {
	t                         *testing.T
	before, after, drainReply []byte

	mu      sync.Mutex
	drained bool
	request string // the last drain request: method, path, content type, body
}

func (j *fakeJVB) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if r.Method == http.MethodGet && r.URL.Path == "/colibri/stats" {
		if j.drained {
			w.Write(j.after)
		} else {
			w.Write(j.before)
		}
		return
	}
	body, _ := io.ReadAll(r.Body)
	j.request = strings.TrimSpace(r.Method + " " + r.URL.Path + " " + r.Header.Get("Content-Type") + " " + string(body))
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(j.drainReply)), r)
	if err != nil {
		j.t.Errorf("the recorded reply: %v", err)
		return
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(resp.Body)
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(reply)
	j.drained = resp.StatusCode == http.StatusOK
}

func TestJVBDrain(t *testing.T) {
	for _, c := range []struct {
		name, mode string
		reply      string // the recorded reply to the drain request
		after      string // the stats once drained
		request    string
		err        string
		// after the drain, as Read publishes it
		draining     bool
		participants float64
	}{
		{name: "drain mode", reply: "jvb-colibri-drain-200.http", after: "jvb-colibri-stats-draining.json",
			request: "POST /colibri/drain/enable", draining: true, participants: 2},
		{name: "graceful shutdown", mode: JVBGracefulShutdown, reply: "jvb-colibri-shutdown-200.http", after: "jvb-colibri-stats-local-only.json",
			request: `POST /colibri/shutdown application/json {"graceful-shutdown":true}`, draining: true, participants: 7},
		{name: "drain API off", reply: "jvb-colibri-drain-404.http", request: "POST /colibri/drain/enable",
			err: "the bridge's drain API is off (videobridge.rest.drain.enabled): POST", participants: 10},
		{name: "shutdown API off (the default)", mode: JVBGracefulShutdown, reply: "jvb-colibri-shutdown-404.http", request: `POST /colibri/shutdown application/json {"graceful-shutdown":true}`,
			err: "the bridge's shutdown API is off (it needs videobridge.rest.shutdown.enabled = true): POST", participants: 10},
		{name: "drain threw", reply: "jvb-colibri-drain-500.http", request: "POST /colibri/drain/enable",
			err: "/colibri/drain/enable: 500 ", participants: 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			j := &fakeJVB{t: t, before: fixture(t, "jvb-colibri-stats.json"), drainReply: crlf(fixture(t, c.reply))}
			if c.after != "" {
				j.after = fixture(t, c.after)
			}
			srv := httptest.NewServer(j)
			defer srv.Close()
			src, err := New(sample.KindJVB, Options{URL: srv.URL + "/colibri/stats", JVBDrain: c.mode})
			if err != nil {
				t.Fatal(err)
			}
			err = src.(Drainer).Drain(context.Background())
			if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
				t.Errorf("Drain: %v, want an error containing %q", err, c.err)
			}
			j.mu.Lock()
			request := j.request
			j.mu.Unlock()
			if request != c.request {
				t.Errorf("sent %q, want %q", request, c.request)
			}
			r, err := src.Read(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if v, _ := (&sample.Sample{Gauges: r.Gauges}).Gauge(sample.GaugeParticipants); r.Draining != c.draining || v != c.participants {
				t.Errorf("after the drain: draining %v, %v participants; want %v, %v", r.Draining, v, c.draining, c.participants)
			}
		})
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close() // nothing listens there now
	src, _ := New(sample.KindJVB, Options{URL: "http://" + ln.Addr().String() + "/colibri/stats"})
	if err := src.(Drainer).Drain(context.Background()); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("bridge down: %v", err)
	}
}

func TestJVBDrainOptions(t *testing.T) {
	for _, c := range []struct {
		url, mode, want string
	}{
		{"http://127.0.0.1:8080/colibri/stats", "", "http://127.0.0.1:8080/colibri/drain/enable"},
		{"http://127.0.0.1:8080/colibri/stats", JVBDrainMode, "http://127.0.0.1:8080/colibri/drain/enable"},
		{"https://jvb.local:8443/colibri/stats?x=1", JVBGracefulShutdown, "https://jvb.local:8443/colibri/shutdown"},
	} {
		src, err := New(sample.KindJVB, Options{URL: c.url, JVBDrain: c.mode})
		if err != nil {
			t.Errorf("%s %s: %v", c.url, c.mode, err)
			continue
		}
		if got := src.(*jvb).drain.url; got != c.want {
			t.Errorf("%s %s: drains at %s, want %s", c.url, c.mode, got, c.want)
		}
	}
}
