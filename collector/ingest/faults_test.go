package ingest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rtcscale/rtcscale/collector"
	"github.com/rtcscale/rtcscale/internal/natsconn"
	"github.com/rtcscale/rtcscale/internal/natstest"
	"github.com/rtcscale/rtcscale/sample"
)

// The fault tests run the collector as the adapter does (Dial, Subscriber,
// Store with its metrics and readiness checks) against real NATS servers,
// break something, and check four things: no value older than its
// staleness limit is served, readiness says whether samples can arrive,
// nothing panics, and the collector recovers without help.

// faultRig is one adapter's collector on a controllable clock.
type faultRig struct {
	t     *testing.T
	store *collector.Store
	clock *clock
	m     *Metrics
	nc    *nats.Conn
	sub   *Subscriber
}

// testPods are the pods the fault tests publish for, all known and Ready.
var testPods = []string{"a-1", "a-2"}

func newFaultRig(t *testing.T, o natsconn.Options) *faultRig {
	t.Helper()
	reg := prometheus.NewRegistry()
	r := &faultRig{t: t, m: NewMetrics(reg)}
	r.clock = newClock(t0)
	r.store = collector.NewStore(collector.Options{Now: r.clock.Now}, collector.NewMetrics(reg))
	for _, p := range testPods {
		r.store.UpsertPod(readyPod("voice", p, "a", collector.Workload{}))
	}
	o.Name = "rtcscale-test"
	nc, err := natsconn.Dial(o, r.m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	r.nc = nc
	r.sub = NewSubscriber(r.store, sample.DefaultSubjectPrefix, r.m)
	if err := r.sub.Start(nc); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "connected", nc.IsConnected)
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return r
}

// ready is the adapter's readiness: connected and subscribed.
func (r *faultRig) ready() error {
	if err := natsconn.Connected(r.nc)(); err != nil {
		return err
	}
	return r.sub.Ready()
}

// served returns what a Pods-metric query answers now.
func (r *faultRig) served() map[string]float64 {
	return served(r.t, r.store, "voice", "app=a", "calls")
}

// publishUntilServed publishes v for every test pod at the rig's clock,
// through pub, until the rig serves it: after a reconnection the first
// samples may be lost (core NATS keeps nothing) until the subscription is
// back on the server.
func (r *faultRig) publishUntilServed(pub *nats.Conn, v float64) {
	r.t.Helper()
	waitFor(r.t, "value served", func() bool {
		for _, p := range testPods {
			x := smp("voice", p, r.clock.Now(), calls(v))
			x.Seq = uint64(time.Now().UnixNano()) // a new sequence each try: never a duplicate
			if pub.Publish(x.Subject(sample.DefaultSubjectPrefix), x.AppendJSON(nil)) != nil {
				return false
			}
		}
		if pub.FlushTimeout(time.Second) != nil {
			return false
		}
		got := r.served()
		return len(got) == len(testPods) && got["a-1"] == v && got["a-2"] == v
	})
}

// assertStaleAtLimit checks, on the rig's clock, that the values published
// last are served up to their staleness limit and not a millisecond after.
// The samples were published at the clock's current time with a 5s interval.
func (r *faultRig) assertStaleAtLimit() {
	r.t.Helper()
	r.clock.Add(r.store.StaleLimit(5 * time.Second))
	if got := r.served(); len(got) != len(testPods) {
		r.t.Fatalf("at the staleness limit: served %v, want every pod", got)
	}
	r.clock.Add(time.Millisecond)
	if got := r.served(); len(got) != 0 {
		r.t.Fatalf("past the staleness limit: served %v, want nothing", got)
	}
}

// TestNATSServerRestart stops the NATS server under a running collector and
// starts it again on the same port and store directory: the connection
// gauge and readiness follow, values go stale on time meanwhile, the
// collector reconnects on its own, and the warm-restart stream (on disk)
// still holds every pod's latest sample.
func TestNATSServerRestart(t *testing.T) {
	dir := t.TempDir()
	srv := natstest.Start(t, natstest.JetStream(dir))
	port := srv.Addr().(*net.TCPAddr).Port
	r := newFaultRig(t, natsconn.Options{URL: srv.ClientURL()})
	js, err := jetstream.New(r.nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := EnsureWarmStream(ctx, js, WarmConfig{Stream: "LATEST"}); err != nil {
		t.Fatal(err)
	}
	pub := natstest.Connect(t, srv.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	r.publishUntilServed(pub, 7)
	if got := testutil.ToFloat64(r.m.natsUp); got != 1 || r.ready() != nil {
		t.Fatalf("connected gauge %v, readiness %v", got, r.ready())
	}

	srv.Shutdown()
	srv.WaitForShutdown()
	waitFor(t, "disconnect reported", func() bool { return testutil.ToFloat64(r.m.natsUp) == 0 && r.ready() != nil })
	// What was last heard is served until its limit, then nothing.
	r.assertStaleAtLimit()

	natstest.Start(t, natstest.JetStream(dir), func(o *server.Options) { o.Port = port })
	waitFor(t, "reconnect", func() bool { return testutil.ToFloat64(r.m.natsUp) == 1 && r.ready() == nil })
	if got := testutil.ToFloat64(r.m.reconnects); got != 1 {
		t.Fatalf("reconnects %v", got)
	}
	r.publishUntilServed(pub, 8)

	// The stream came back from disk: a new adapter starts warm.
	fresh := collector.NewStore(collector.Options{Now: r.clock.Now}, nil)
	fresh.UpsertPod(readyPod("voice", "a-1", "a", collector.Workload{}))
	if _, err := NewSubscriber(fresh, sample.DefaultSubjectPrefix, nil).WarmLoad(ctx, js, "LATEST"); err != nil {
		t.Fatal(err)
	}
	if got := served(t, fresh, "voice", "app=a", "calls"); got["a-1"] != 8 {
		t.Fatalf("warm load after the NATS restart: %v", got)
	}
}

// TestLameDuck puts the cluster node the collector is connected to into
// lame-duck mode: the collector moves to another node at once, keeps
// ingesting what sidecars publish on the others, and stays ready. The
// node would only close its clients after a 5-minute grace period, past
// the test's deadlines (waitFor's minute): the collector moves because it
// heeds the notice.
func TestLameDuck(t *testing.T) {
	nodes := natstest.Cluster(t, 3, func(_ int, o *server.Options) {
		o.LameDuckDuration, o.LameDuckGracePeriod = 10*time.Minute, 5*time.Minute
	})
	r := newFaultRig(t, natsconn.Options{URL: natstest.ClientURLs(nodes)})
	duck, other := nodeNamed(nodes, r.nc.ConnectedServerName()), nodes[0]
	if other == duck {
		other = nodes[1]
	}
	pub := natstest.Connect(t, other.ClientURL())
	r.publishUntilServed(pub, 1)

	// LameDuckShutdown returns when the node is gone; the test's cleanup
	// shuts it down sooner.
	go duck.LameDuckShutdown()
	waitFor(t, "the collector leaves the lame duck", func() bool {
		return r.nc.IsConnected() && r.nc.ConnectedServerName() != duck.Name()
	})
	r.publishUntilServed(pub, 2)
	if err := r.ready(); err != nil {
		t.Fatalf("not ready after moving: %v", err)
	}
	r.publishUntilServed(pub, 3)
	r.assertStaleAtLimit()
}

// TestClusterNodeLoss kills the node the collector is connected to in a
// three-node cluster whose warm-restart stream has three replicas: the
// collector reconnects to a survivor and keeps ingesting, and the stream,
// with two of three replicas, still answers a starting adapter.
func TestClusterNodeLoss(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	nodes := natstest.Cluster(t, 3, func(i int, o *server.Options) { natstest.JetStream(dirs[i])(o) })
	r := newFaultRig(t, natsconn.Options{URL: natstest.ClientURLs(nodes)})
	js, err := jetstream.New(r.nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := EnsureWarmStream(ctx, js, WarmConfig{Stream: "LATEST", Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	lost := nodeNamed(nodes, r.nc.ConnectedServerName())
	var survivor *server.Server
	for _, n := range nodes {
		if n != lost {
			survivor = n
		}
	}
	pub := natstest.Connect(t, survivor.ClientURL(), nats.MaxReconnects(-1))
	r.publishUntilServed(pub, 4)

	lost.Shutdown()
	lost.WaitForShutdown()
	waitFor(t, "reconnect to a survivor", func() bool { return r.ready() == nil && r.nc.ConnectedServerName() != lost.Name() })
	r.publishUntilServed(pub, 5)

	// The stream's leader may have been on the lost node: JetStream elects
	// another within seconds (many more under the race detector on a busy
	// machine). Meanwhile a load fails, and samples are not stored (the
	// stream captures core NATS publishes, which nobody retries): the next
	// sample of each pod, an interval later, is. The adapter's own load has
	// one timeout (--warm-restart-timeout) and then starts cold. Each try
	// here publishes the pod's next sample and gets its own short timeout,
	// on a new store, so that one request stuck on a leaderless stream
	// cannot spend them all.
	next := smp("voice", "a-2", r.clock.Now(), calls(5))
	waitFor(t, "warm load of the last values from the surviving replicas", func() bool {
		next.Seq++
		publish(t, pub, next)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		fresh := collector.NewStore(collector.Options{Now: r.clock.Now}, nil)
		fresh.UpsertPod(readyPod("voice", "a-2", "a", collector.Workload{}))
		st, err := NewSubscriber(fresh, sample.DefaultSubjectPrefix, nil).WarmLoad(ctx, js, "LATEST")
		return err == nil && st.Messages == len(testPods) && served(t, fresh, "voice", "app=a", "calls")["a-2"] == 5
	})
	r.assertStaleAtLimit()
}

// TestNetworkPartition cuts the network between the collector and NATS
// without a word to either side (packets dropped, no reset): the pings
// notice, readiness turns false, values go stale at their limit, and when
// the network heals the collector reconnects and serves again.
func TestNetworkPartition(t *testing.T) {
	srv := natstest.Start(t)
	proxy := natstest.NewProxy(t, srv.Addr().String())
	r := newFaultRig(t, natsconn.Options{URL: proxy.URL(), PingInterval: 200 * time.Millisecond})
	pub := natstest.Connect(t, srv.ClientURL())
	r.publishUntilServed(pub, 1)

	proxy.Cut()
	waitFor(t, "readiness false in the partition", func() bool { return r.ready() != nil && testutil.ToFloat64(r.m.natsUp) == 0 })
	// Sidecars keep publishing; nothing reaches the collector.
	publish(t, pub, smp("voice", "a-1", r.clock.Now(), calls(99)))
	if got := r.served(); got["a-1"] != 1 {
		t.Fatalf("served %v during the partition, want the last value heard (1) until it goes stale", got)
	}
	r.assertStaleAtLimit()

	proxy.Heal()
	waitFor(t, "ready after the partition heals", func() bool { return r.ready() == nil })
	r.publishUntilServed(pub, 2)
	if got := testutil.ToFloat64(r.m.reconnects); got < 1 {
		t.Fatalf("reconnects %v", got)
	}
}

func nodeNamed(nodes []*server.Server, name string) *server.Server {
	for _, n := range nodes {
		if n.Name() == name {
			return n
		}
	}
	panic("no node named " + name)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: never happened", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
