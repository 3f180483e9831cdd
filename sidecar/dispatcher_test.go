package sidecar

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rtcscale/rtcscale/sample"
)

func TestParseDispatcherList(t *testing.T) {
	// Recorded from Kamailio 5.6 after set_state d on the TCP entry and i
	// on the DNS one; the IPv6 entry of its list file was skipped by
	// Kamailio, which had no IPv6 socket.
	list := fixture(t, "kamailio-dispatcher-list.json")
	got, err := parseDispatcherList(list, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []destination{
		{uri: "sips:asterisk-2.asterisk.voice.svc.cluster.local", state: 'I'},
		{uri: "sip:10.1.2.4:5060;transport=tcp", state: 'D'},
		{uri: "sip:10.1.2.4:5060;transport=udp", state: 'A'},
		{uri: "sip:10.1.2.3:5060", state: 'A', probing: true},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(destination{})); diff != "" {
		t.Errorf("set 1 (-want +got):\n%s", diff)
	}
	if got, err := parseDispatcherList(list, 2); err != nil || len(got) != 1 || got[0].uri != "sip:10.9.9.9" {
		t.Errorf("set 2: %+v, %v", got, err)
	}
	for _, c := range []struct {
		name  string
		body  string
		group int
		err   string
	}{
		{"absent set", string(list), 3, "no dispatcher set 3"},
		{"no sets", `{"jsonrpc":"2.0","result":{"NRSETS":0,"RECORDS":[]},"id":1}`, 1, "no dispatcher set 1"},
		{"rpc error", `{"jsonrpc":"2.0","error":{"code":500,"message":"No Destination Sets"},"id":1}`, 1, "No Destination Sets"},
		{"unknown state", `{"result":{"RECORDS":[{"SET":{"ID":1,"TARGETS":[{"DEST":{"URI":"sip:a","FLAGS":"ZX"}}]}}]}}`, 1, "not one dispatcher.list writes"},
		{"no uri", `{"result":{"RECORDS":[{"SET":{"ID":1,"TARGETS":[{"DEST":{"FLAGS":"AX"}}]}}]}}`, 1, "not one dispatcher.list writes"},
		{"records not a list", `{"result":{"RECORDS":{}}}`, 1, "result"},
		{"not json", `<html>`, 1, "not a JSON-RPC reply"},
	} {
		if _, err := parseDispatcherList([]byte(c.body), c.group); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.err)
		}
	}
}

func TestURIAddr(t *testing.T) {
	for uri, want := range map[string]string{
		"sip:10.1.2.3:5060":                 "10.1.2.3:5060",
		"sip:10.1.2.3:5080;transport=udp":   "10.1.2.3:5080",
		"sip:10.1.2.3":                      "10.1.2.3:5060",
		"sip:10.1.2.3;transport=tcp":        "10.1.2.3:5060",
		"sip:10.1.2.3;transport=TLS":        "10.1.2.3:5061",
		"sips:10.1.2.3":                     "10.1.2.3:5061",
		"SIP:10.1.2.3:5060":                 "10.1.2.3:5060",
		"sip:asterisk@10.1.2.3:5060":        "10.1.2.3:5060",
		"sip:user:secret@10.1.2.3":          "10.1.2.3:5060",
		"sip:10.1.2.3:5060?X-Header=1":      "10.1.2.3:5060",
		"sip:[fd00::1:5]:5080":              "[fd00::1:5]:5080",
		"sip:[FD00:0::1:5]":                 "[fd00::1:5]:5060",
		"sip:[::ffff:10.1.2.3]:5060":        "10.1.2.3:5060",
		"sip:Asterisk-0.Asterisk.voice.svc": "asterisk-0.asterisk.voice.svc:5060",
		"sip:10.1.2.3:0":                    "",
		"sip:10.1.2.3:5060x":                "",
		"sip:10.1.2.300":                    "",
		"sip:fd00::1":                       "",
		"sip:":                              "",
		"tel:+4930123":                      "",
		"10.1.2.3:5060":                     "",
		"":                                  "",
	} {
		got, ok := uriAddr(uri)
		if ok != (want != "") || got != want {
			t.Errorf("uriAddr(%q) = %q, %v; want %q", uri, got, ok, want)
		}
	}
	// A sample's address and the URI listing it meet in one key.
	for addr, uri := range map[string]string{
		"10.1.2.3:5060":          "sip:10.1.2.3",
		"[::ffff:10.1.2.3]:5060": "sip:10.1.2.3:5060",
		"[fd00:0:0::1]:5060":     "sip:[fd00::1]",
		"asterisk-0.voice:5061":  "sips:asterisk-0.voice",
	} {
		if !sample.ValidAddr(addr) {
			t.Fatalf("test bug: %q is not a valid address", addr)
		}
		if key, _ := uriAddr(uri); addrKey(addr) != key {
			t.Errorf("address %q has key %q, destination %s %q", addr, addrKey(addr), uri, key)
		}
	}
}

func TestNewDispatcherRefuses(t *testing.T) {
	good := func() DispatcherConfig {
		return DispatcherConfig{Group: 1, Namespace: "voice", Kinds: []sample.Kind{sample.KindAsterisk}}
	}
	for name, c := range map[string]struct {
		edit func(*DispatcherConfig)
		err  string
	}{
		"negative group": {func(c *DispatcherConfig) { c.Group = -1 }, "negative"},
		"no namespace":   {func(c *DispatcherConfig) { c.Namespace = "" }, "DNS label"},
		"no kinds":       {func(c *DispatcherConfig) { c.Kinds = nil }, "no backend kinds"},
		"unknown kind":   {func(c *DispatcherConfig) { c.Kinds = []sample.Kind{sample.KindUnknown} }, "unknown backend kind"},
		"kind twice":     {func(c *DispatcherConfig) { c.Kinds = append(c.Kinds, sample.KindAsterisk) }, "twice"},
		"resync":         {func(c *DispatcherConfig) { c.Resync = time.Millisecond }, "resync"},
	} {
		cfg := good()
		c.edit(&cfg)
		if _, err := NewDispatcher(cfg); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: error %v, want one containing %q", name, err, c.err)
		}
	}
	d, err := NewDispatcher(DispatcherConfig{Namespace: "voice", Kinds: []sample.Kind{sample.KindAsterisk, sample.KindFreeSWITCH}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"rtcscale.load.v1.voice.asterisk.*", "rtcscale.load.v1.voice.freeswitch.*"}; !cmp.Equal(d.subjects, want) {
		t.Errorf("subjects %q, want %q", d.subjects, want)
	}
	if d.cfg.URL != DefaultURL(sample.KindKamailio) || d.cfg.Resync != DefaultDispatcherResync {
		t.Errorf("defaults: %+v", d.cfg)
	}
}

// FuzzParseDispatcherList checks that no reply makes the parser or the
// address matching panic, and that what they accept is usable: a state
// set_state knows, an address a sample could name.
func FuzzParseDispatcherList(f *testing.F) {
	f.Add(fixture(f, "kamailio-dispatcher-list.json"), 1)
	f.Add([]byte(`{"result":{"RECORDS":[{"SET":{"ID":1,"TARGETS":[{"DEST":{"URI":"sip:[fd00::1]:5080;transport=tls","FLAGS":"T"}}]}}]}}`), 1)
	f.Fuzz(func(t *testing.T, body []byte, group int) {
		dests, err := parseDispatcherList(body, group)
		if err != nil {
			return
		}
		for _, d := range dests {
			if d.uri == "" || !strings.ContainsRune("AIDT", rune(d.state)) {
				t.Fatalf("accepted destination %+v", d)
			}
			if addr, ok := uriAddr(d.uri); ok && (!sample.ValidAddr(addr) || addrKey(addr) != addr) {
				t.Fatalf("destination %s: address %q is not a valid key", d.uri, addr)
			}
		}
	})
}
