package natstest

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Cluster runs n NATS servers routed to each other on loopback, named n0,
// n1, ..., until the test ends. configure adjusts each server's options
// (JetStream with its own directory, say) before it starts. Cluster
// returns once every server has a route to every other and, when they run
// JetStream, once a meta leader has heard from them all.
func Cluster(t testing.TB, n int, configure ...func(i int, o *server.Options)) []*server.Server {
	t.Helper()
	// Clustered JetStream wants every route configured up front, so the
	// route ports are chosen before any server starts.
	ports := freePorts(t, n)
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	servers := make([]*server.Server, n)
	for i := range n {
		servers[i] = launch(t, func(o *server.Options) {
			o.ServerName = fmt.Sprintf("n%d", i)
			o.Cluster = server.ClusterOpts{Name: "rtcscale", Host: "127.0.0.1", Port: ports[i]}
			o.Routes = server.RoutesFromStr(strings.Join(append(slices.Clone(routes[:i]), routes[i+1:]...), ","))
			for _, c := range configure {
				c(i, o)
			}
		})
	}
	for _, s := range servers {
		if !s.ReadyForConnections(time.Minute) {
			t.Fatalf("NATS cluster: %s did not become ready", s.Name())
		}
	}
	waitUntil(t, "a full mesh of routes", func() bool {
		for _, s := range servers {
			if remotes(s) < n-1 {
				return false
			}
		}
		return true
	})
	if servers[0].JetStreamEnabled() {
		// A stream with n replicas can be placed once the meta leader has
		// heard from every server.
		waitUntil(t, "a JetStream meta leader that knows every server", func() bool {
			for _, s := range servers {
				if s.JetStreamIsLeader() && len(s.JetStreamClusterPeers()) == n {
					return true
				}
			}
			return false
		})
	}
	return servers
}

// ClientURLs is the comma-separated client URLs of servers, as a client
// configured with the whole cluster takes them.
func ClientURLs(servers []*server.Server) string {
	urls := make([]string, len(servers))
	for i, s := range servers {
		urls[i] = s.ClientURL()
	}
	return strings.Join(urls, ",")
}

// freePorts finds n free loopback ports. Another process could take one
// before the server binds it; on a test machine that is rare enough.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// remotes counts the distinct servers s has a route to (a route pool
// opens several connections to each).
func remotes(s *server.Server) int {
	rz, err := s.Routez(nil)
	if err != nil {
		return 0
	}
	ids := map[string]bool{}
	for _, r := range rz.Routes {
		ids[r.RemoteID] = true
	}
	return len(ids)
}

func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute) // a busy CI machine under the race detector is slow
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("NATS cluster: no %s within a minute", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
