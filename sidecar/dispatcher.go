package sidecar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"k8s.io/klog/v2"

	"github.com/rtcscale/rtcscale/sample"
)

// DispatcherConfig says which dispatcher set a Dispatcher keeps in step with
// which backends.
type DispatcherConfig struct {
	// URL is Kamailio's JSON-RPC endpoint (jsonrpcs over xhttp), the one
	// the kamailio source reads. Default DefaultURL(sample.KindKamailio).
	URL string
	// Group is the dispatcher set (the setid of the destination list)
	// whose destinations are the backends.
	Group int
	// Namespace and Kinds select the backends' samples: those published on
	// <SubjectPrefix>.<Namespace>.<kind>.* for each kind.
	Namespace string
	Kinds     []sample.Kind
	// SubjectPrefix of the samples. Default sample.DefaultSubjectPrefix.
	SubjectPrefix string
	// Resync is how often the set is read again (dispatcher.list) and
	// every fresh backend's state applied to it, which corrects a Kamailio
	// that restarted (it reloads its list with every destination active)
	// or a list that was reloaded. Default DefaultDispatcherResync.
	Resync time.Duration
	// Client makes the RPC requests. Default: a client with no proxy, since
	// Kamailio is on the pod's loopback.
	Client *http.Client
}

// DefaultDispatcherResync is the default of DispatcherConfig.Resync: a
// restarted Kamailio routes new calls to a draining backend for at most
// this long. One dispatcher.list every 5 s costs Kamailio nothing.
const DefaultDispatcherResync = 5 * time.Second

// dispatcherStaleAfter is how many of its intervals after its timestamp a
// backend's sample speaks for it, as the collector's default stale-after: a
// backend silent for longer no longer decides its destination's state.
const dispatcherStaleAfter = 3

// dispatcherRPCTimeout bounds one JSON-RPC call, so that a hung Kamailio
// delays the samples queued behind it by at most that.
const dispatcherRPCTimeout = 5 * time.Second

// maxLoggedOnce bounds the addresses and subjects a Dispatcher remembers
// having logged, so that a publisher inventing them costs a counter
// increment each, not memory.
const maxLoggedOnce = 1024

// A Dispatcher keeps the destinations of one Kamailio dispatcher set in step
// with their backends' samples: a backend that publishes draining is
// disabled in the set, so Kamailio sends it no new call while its dialogs
// continue, and a disabled one that publishes serving (back from a drain,
// or a new pod at the same address) is made active again.
//
// A backend names its destination by its sample's addr (host:port), which
// matches a destination whose SIP URI has that host and port (the port
// defaulting to 5060, or 5061 for sips: and transport=tls); a destination
// listed once per transport is set as a whole. Destinations are disabled
// (state "d"), not made inactive ("i"): Kamailio's keepalives (ds_ping_interval)
// set any destination that is not disabled and answers OPTIONS back to
// active, and a draining server still answers. A destination that was
// probing gets its probing flag back when enabled again.
//
// The Dispatcher changes only what its backends' fresh samples speak for (a
// sample speaks for its backend until 3 of its intervals after its
// timestamp, as in the collector):
//   - a backend whose samples stop (its pod is gone, or NATS is away) leaves
//     its destination as it is: Kamailio's keepalives are the authority on
//     whether a destination is reachable, and marking every backend on a
//     NATS outage would empty the set;
//   - a destination that is inactive or trying (Kamailio's keepalives or
//     failover found it unreachable) is not made active for a serving
//     backend: a server that publishes is up, not necessarily reachable from
//     Kamailio;
//   - the disabled state is the Dispatcher's for the destinations its
//     backends name: one disabled by hand is made active again while its
//     backend publishes that it serves. To keep a serving backend out, drain
//     it or remove it from the list.
//
// It calls dispatcher.set_state only when a destination's state would
// change, as the last dispatcher.list (updated by each set_state) shows it.
type Dispatcher struct {
	cfg      DispatcherConfig
	subjects []string

	dec sample.Decoder
	smp sample.Sample

	// listed is whether dests holds the set as Kamailio last reported it.
	// After a failed RPC it is false until the next resync succeeds, and
	// samples are dropped meanwhile: each backend publishes again within
	// its interval.
	listed bool
	// dests are the set's destinations, by address (host:port).
	dests map[string][]*destination
	// backends are the latest fresh sample of each listed address.
	backends map[string]backend

	rpcErr     string // the last failed RPC's error, "" while they succeed
	rpcFailed  uint64 // RPCs failed since rpcErr was logged
	loggedOnce map[string]bool

	counters dispatcherCounters
}

// destination is one entry of the set.
type destination struct {
	uri string // as listed: set_state matches it verbatim
	// state is the first letter of its flags as listed, or as last set:
	// Active, Inactive, Disabled or Trying.
	state byte
	// probing is its probing flag (the P of "AP"), remembered across a
	// drain since a disabled destination loses it.
	probing bool
}

func (d *destination) disabled() bool { return d.state == 'D' }

type backend struct {
	subject  string
	draining bool
	expires  time.Time
}

type dispatcherCounters struct {
	samples, rejected, stale, noAddr, unknownAddr, disabled, enabled, resyncs, rpcErrors atomic.Uint64
}

// DispatcherStats counts what a Dispatcher saw and did since it started.
type DispatcherStats struct {
	// Samples received on the backends' subjects.
	Samples uint64
	// Rejected samples: not valid (sample.Decoder), or not published on
	// their own pod's subject.
	Rejected uint64
	// Stale samples were past their backend's staleness limit on arrival
	// (its clock is behind, or NATS delivered them late) and are ignored.
	Stale uint64
	// NoAddr counts valid samples without an addr, which name no
	// destination (the backend's sidecar has no address configured).
	NoAddr uint64
	// UnknownAddr counts samples whose addr is no destination of the set.
	UnknownAddr uint64
	// Disabled and Enabled count the destinations taken out of the set and
	// put back (successful dispatcher.set_state calls).
	Disabled, Enabled uint64
	// Resyncs counts the successful reads of the set (dispatcher.list).
	Resyncs uint64
	// RPCErrors counts failed dispatcher.list and dispatcher.set_state
	// calls.
	RPCErrors uint64
}

// NewDispatcher checks cfg and returns a Dispatcher for it.
func NewDispatcher(cfg DispatcherConfig) (*Dispatcher, error) {
	if cfg.URL == "" {
		cfg.URL = DefaultURL(sample.KindKamailio)
	}
	if cfg.SubjectPrefix == "" {
		cfg.SubjectPrefix = sample.DefaultSubjectPrefix
	}
	if cfg.Resync == 0 {
		cfg.Resync = DefaultDispatcherResync
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConns: 1}}
	}
	switch {
	case cfg.Group < 0:
		return nil, fmt.Errorf("dispatcher group %d is negative", cfg.Group)
	case !sample.IsDNSLabel(cfg.Namespace):
		return nil, fmt.Errorf("backend namespace %q is not a DNS label", cfg.Namespace)
	case len(cfg.Kinds) == 0:
		return nil, errors.New("no backend kinds: name the kinds of server the dispatcher set sends calls to")
	case cfg.Resync < sample.MinInterval || cfg.Resync > sample.MaxInterval:
		return nil, fmt.Errorf("dispatcher resync %s is outside %s..%s", cfg.Resync, sample.MinInterval, sample.MaxInterval)
	}
	d := &Dispatcher{cfg: cfg, backends: map[string]backend{}, loggedOnce: map[string]bool{}}
	for i, k := range cfg.Kinds {
		if k == sample.KindUnknown || sample.ParseKind(k.String()) != k {
			return nil, fmt.Errorf("unknown backend kind %s", k)
		}
		for _, prev := range cfg.Kinds[:i] {
			if prev == k {
				return nil, fmt.Errorf("backend kind %s is listed twice", k)
			}
		}
		d.subjects = append(d.subjects, cfg.SubjectPrefix+"."+cfg.Namespace+"."+k.String()+".*")
	}
	return d, nil
}

// Run keeps the set in step with the backends until ctx is done, then
// returns nil. It reads the set at once and every Resync; a sample that
// changes what a destination should be is applied when it arrives. Kamailio
// being unreachable is logged, not returned: Run retries at every resync.
// nc should reconnect forever (collector.Dial); its subscriptions survive.
func (d *Dispatcher) Run(ctx context.Context, nc *nats.Conn) error {
	// One goroutine handles samples and resyncs, so the state needs no
	// lock; the channel queues samples while an RPC is under way.
	msgs := make(chan *nats.Msg, 4096)
	for _, subject := range d.subjects {
		sub, err := nc.ChanSubscribe(subject, msgs)
		if err != nil {
			return fmt.Errorf("subscribing to %s: %w", subject, err)
		}
		defer sub.Unsubscribe()
	}
	klog.InfoS("Keeping a dispatcher set in step with its backends", "group", d.cfg.Group, "subjects", d.subjects, "rpc", d.cfg.URL)
	d.resync(ctx)
	ticker := time.NewTicker(d.cfg.Resync)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-msgs:
			d.handle(ctx, m.Subject, m.Data)
		case <-ticker.C:
			d.resync(ctx)
		}
	}
}

// Stats returns the counters so far. It is safe to call while Run runs.
func (d *Dispatcher) Stats() DispatcherStats {
	c := &d.counters
	return DispatcherStats{
		Samples: c.samples.Load(), Rejected: c.rejected.Load(), Stale: c.stale.Load(), NoAddr: c.noAddr.Load(), UnknownAddr: c.unknownAddr.Load(),
		Disabled: c.disabled.Load(), Enabled: c.enabled.Load(), Resyncs: c.resyncs.Load(), RPCErrors: c.rpcErrors.Load(),
	}
}

// handle takes one backend sample.
func (d *Dispatcher) handle(ctx context.Context, subject string, data []byte) {
	d.counters.samples.Add(1)
	s := &d.smp
	r := d.dec.Decode(data, s)
	if r == sample.Accepted && !s.MatchesSubject(d.cfg.SubjectPrefix, subject) {
		r = sample.ReasonSubjectMismatch
	}
	if r != sample.Accepted {
		d.counters.rejected.Add(1)
		d.logOnce("reason:"+r.String(), "Ignoring invalid backend samples", "reason", r.String(), "why", r.Description(), "subject", subject)
		return
	}
	expires := s.Time.Add(dispatcherStaleAfter * s.Interval)
	if time.Now().After(expires) {
		d.counters.stale.Add(1)
		return
	}
	if s.Addr == "" {
		d.counters.noAddr.Add(1)
		d.logOnce("subject:"+subject, "A backend publishes no address, so it names no dispatcher destination (set its sidecar's --sip-address)", "subject", subject)
		return
	}
	if !d.listed {
		// Whether the address is a destination is unknown until the set
		// is read; the backend's next sample comes within its interval.
		return
	}
	addr := addrKey(s.Addr)
	dests := d.dests[addr]
	if len(dests) == 0 {
		d.counters.unknownAddr.Add(1)
		d.logOnce("addr:"+addr, "A backend's address is no destination of the dispatcher set; its drains do not reach Kamailio", "addr", addr, "group", d.cfg.Group, "subject", subject)
		return
	}
	b := backend{subject: strings.Clone(subject), draining: s.Draining, expires: expires}
	d.backends[addr] = b
	d.apply(ctx, b, dests)
}

// resync reads the set, forgets the backends gone stale and applies the
// others to it.
func (d *Dispatcher) resync(ctx context.Context) {
	body, err := d.call(ctx, dispatcherListRequest)
	var listed []destination
	if err == nil {
		listed, err = parseDispatcherList(body, d.cfg.Group)
	}
	if err != nil {
		d.failed(fmt.Errorf("dispatcher.list: %w", err))
		d.listed = false
		return
	}
	d.recovered()
	d.counters.resyncs.Add(1)
	old := d.dests
	d.dests = make(map[string][]*destination, len(listed))
	for i := range listed {
		dst := &listed[i]
		addr, ok := uriAddr(dst.uri)
		if !ok {
			d.logOnce("uri:"+dst.uri, "A dispatcher destination has no address a backend can name; it is left alone", "uri", dst.uri, "group", d.cfg.Group)
			continue
		}
		if dst.disabled() {
			// A disabled destination shows no probing flag: keep
			// what it had before.
			for _, prev := range old[addr] {
				if prev.uri == dst.uri {
					dst.probing = prev.probing
				}
			}
		}
		d.dests[addr] = append(d.dests[addr], dst)
	}
	d.listed = true
	now := time.Now()
	for addr, b := range d.backends {
		dests := d.dests[addr]
		if now.After(b.expires) || len(dests) == 0 {
			delete(d.backends, addr)
			continue
		}
		if !d.apply(ctx, b, dests) {
			return
		}
	}
}

// apply sets each destination of a backend to what its sample says, and
// reports whether Kamailio took every change.
func (d *Dispatcher) apply(ctx context.Context, b backend, dests []*destination) bool {
	for _, dst := range dests {
		var state string
		var next byte
		switch {
		case b.draining && !dst.disabled():
			state, next = "d", 'D'
		case !b.draining && dst.disabled():
			state, next = "a", 'A'
			if dst.probing {
				state = "ap"
			}
		default:
			continue
		}
		if err := d.setState(ctx, dst.uri, state); err != nil {
			d.failed(fmt.Errorf("dispatcher.set_state %s %d %s: %w", state, d.cfg.Group, dst.uri, err))
			// The set may have changed under us (a reload): read it
			// again before anything else is set.
			d.listed = false
			return false
		}
		d.recovered()
		dst.state = next
		if dst.disabled() {
			d.counters.disabled.Add(1)
			klog.InfoS("Disabled a dispatcher destination: its backend drains; its dialogs continue", "uri", dst.uri, "group", d.cfg.Group, "subject", b.subject)
		} else {
			d.counters.enabled.Add(1)
			klog.InfoS("Enabled a dispatcher destination: its backend serves", "uri", dst.uri, "group", d.cfg.Group, "subject", b.subject)
		}
	}
	return true
}

func (d *Dispatcher) setState(ctx context.Context, uri, state string) error {
	req, err := json.Marshal(struct {
		JSONRPC string `json:"jsonrpc"`
		Method  string `json:"method"`
		Params  []any  `json:"params"`
		ID      int    `json:"id"`
	}{"2.0", "dispatcher.set_state", []any{state, d.cfg.Group, uri}, 1})
	if err != nil {
		return err
	}
	body, err := d.call(ctx, req)
	if err != nil {
		return err
	}
	var reply jsonRPCReply
	_, err = reply.decode(body)
	return err
}

// call sends one JSON-RPC request.
func (d *Dispatcher) call(ctx context.Context, req []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, dispatcherRPCTimeout)
	defer cancel()
	return httpRequest(ctx, d.cfg.Client, http.MethodPost, d.cfg.URL, req)
}

// failed counts a failed RPC and logs it when its error is new: a Kamailio
// down for an hour logs one line, and recovered another.
func (d *Dispatcher) failed(err error) {
	d.counters.rpcErrors.Add(1)
	if msg := err.Error(); msg != d.rpcErr {
		klog.InfoS("Cannot keep the dispatcher set in step: Kamailio's JSON-RPC failed; retrying at each resync", "err", msg, "rpc", d.cfg.URL, "resync", d.cfg.Resync)
		d.rpcErr, d.rpcFailed = msg, 0
	}
	d.rpcFailed++
}

func (d *Dispatcher) recovered() {
	if d.rpcErr != "" {
		klog.InfoS("Kamailio's JSON-RPC answers again", "rpc", d.cfg.URL, "failedCalls", d.rpcFailed)
		d.rpcErr, d.rpcFailed = "", 0
	}
}

// logOnce logs msg the first time key is seen, while fewer than
// maxLoggedOnce keys are remembered.
func (d *Dispatcher) logOnce(key, msg string, kv ...any) {
	if d.loggedOnce[key] || len(d.loggedOnce) >= maxLoggedOnce {
		return
	}
	d.loggedOnce[strings.Clone(key)] = true
	klog.InfoS(msg, kv...)
}

// dispatcherListRequest asks for every set: dispatcher.list takes no set.
var dispatcherListRequest = []byte(`{"jsonrpc":"2.0","method":"dispatcher.list","id":1}`)

// parseDispatcherList reads the destinations of set group from the reply to
// dispatcher.list:
//
//	{"result":{"NRSETS":1,"RECORDS":[{"SET":{"ID":1,"TARGETS":[
//	  {"DEST":{"URI":"sip:10.1.2.3:5060","FLAGS":"AP","PRIORITY":0}}]}}]}}
//
// FLAGS is the state (Active, Inactive, Disabled, Trying), then P for
// probing or X. A set that is not listed is an error: the list is not what
// the configuration says.
func parseDispatcherList(body []byte, group int) ([]destination, error) {
	var reply jsonRPCReply
	raw, err := reply.decode(body)
	if err != nil {
		return nil, err
	}
	var result struct {
		Records []struct {
			Set struct {
				ID      *int `json:"ID"`
				Targets []struct {
					Dest struct {
						URI   string `json:"URI"`
						Flags string `json:"FLAGS"`
					} `json:"DEST"`
				} `json:"TARGETS"`
			} `json:"SET"`
		} `json:"RECORDS"`
	}
	if err := json.Unmarshal(raw, &result); err != nil {
		return nil, fmt.Errorf("result: %w", err)
	}
	for _, rec := range result.Records {
		set := rec.Set
		if set.ID == nil || *set.ID != group {
			continue
		}
		dests := make([]destination, 0, len(set.Targets))
		for _, t := range set.Targets {
			f := t.Dest.Flags
			if t.Dest.URI == "" || f == "" || !strings.Contains("AIDT", f[:1]) {
				return nil, fmt.Errorf("set %d: destination %s with flags %s is not one dispatcher.list writes", group, snippetString(t.Dest.URI), snippetString(f))
			}
			dests = append(dests, destination{uri: t.Dest.URI, state: f[0], probing: len(f) > 1 && f[1] == 'P'})
		}
		return dests, nil
	}
	return nil, fmt.Errorf("no dispatcher set %d (is it in the destination list?)", group)
}

// uriAddr returns the address (host:port, as a sample's addr) of a
// destination's SIP URI: sip:10.1.2.3:5060;transport=udp is 10.1.2.3:5060,
// sips:[fd00::1] is [fd00::1]:5061.
func uriAddr(uri string) (string, bool) {
	scheme, rest, ok := strings.Cut(uri, ":")
	if !ok {
		return "", false
	}
	port := "5060"
	switch strings.ToLower(scheme) {
	case "sip":
	case "sips":
		port = "5061"
	default:
		return "", false
	}
	rest, _, _ = strings.Cut(rest, "?")
	hostport, params, _ := strings.Cut(rest, ";")
	for _, p := range strings.Split(params, ";") {
		if strings.EqualFold(p, "transport=tls") {
			port = "5061"
		}
	}
	if i := strings.LastIndexByte(hostport, '@'); i >= 0 {
		hostport = hostport[i+1:]
	}
	host := hostport
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 && !strings.HasSuffix(hostport, "]") {
		host, port = hostport[:i], hostport[i+1:]
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	addr := net.JoinHostPort(strings.ToLower(host), port)
	if !sample.ValidAddr(addr) {
		return "", false
	}
	return addrKey(addr), true
}

// addrKey is the form of a valid address that two spellings of it share:
// an IPv6 address in its canonical form and an IPv4-mapped one as IPv4.
// A DNS name is lower case already.
func addrKey(addr string) string {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return strings.Clone(addr)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
}
