// Package dashboards holds rtcscale's Grafana dashboards (*.json). The
// tests check their structure, and evaluate every panel's query with a real
// Prometheus scraping a running `rtcscale demo`.
package dashboards

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtcscale/rtcscale/demo"
	"github.com/rtcscale/rtcscale/internal/testenv"
)

type dashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`

	file string
}

type variable struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	AllValue string `json:"allValue"`
	Current  struct {
		Value any `json:"value"`
	} `json:"current"`
}

type panel struct {
	ID         int                      `json:"id"`
	Type       string                   `json:"type"`
	Title      string                   `json:"title"`
	Datasource datasource               `json:"datasource"`
	GridPos    struct{ X, Y, W, H int } `json:"gridPos"`
	Targets    []struct {
		RefID      string     `json:"refId"`
		Expr       string     `json:"expr"`
		Datasource datasource `json:"datasource"`
	} `json:"targets"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func loadDashboards(t *testing.T) []dashboard {
	t.Helper()
	files, err := filepath.Glob("*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	var boards []dashboard
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		d.file = f
		boards = append(boards, d)
	}
	return boards
}

// builtins are Grafana's own variables, replaced by what Grafana would use
// for the test's Prometheus, which scrapes every second:
// $__rate_interval is at least four scrape intervals.
var builtins = map[string]string{"__rate_interval": "5s", "__interval": "1s", "__range": "1m"}

var varRef = regexp.MustCompile(`\$\{(\w+)\}|\$(\w+)|\[\[(\w+)\]\]`)

// substitute replaces the variables in s as Grafana does with each
// variable's default: "All" (allValue) for a query variable, the current
// value otherwise.
func substitute(s string, vars map[string]string) (string, error) {
	var missing []string
	out := varRef.ReplaceAllStringFunc(s, func(ref string) string {
		m := varRef.FindStringSubmatch(ref)
		name := m[1] + m[2] + m[3]
		if v, ok := builtins[name]; ok {
			return v
		}
		if v, ok := vars[name]; ok {
			return v
		}
		missing = append(missing, name)
		return ref
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("undefined variables %v", missing)
	}
	return out, nil
}

func (d *dashboard) defaults() (map[string]string, error) {
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		switch v.Type {
		case "datasource":
			continue
		case "query":
			if v.AllValue == "" {
				return nil, fmt.Errorf("query variable %s: give it includeAll and an allValue, so that its default selects everything", v.Name)
			}
			vars[v.Name] = v.AllValue
		default:
			s, ok := v.Current.Value.(string)
			if !ok || s == "" {
				return nil, fmt.Errorf("variable %s has no single current value", v.Name)
			}
			vars[v.Name] = s
		}
	}
	return vars, nil
}

// TestDashboardsStructure checks what Grafana needs to import and render
// the dashboards: unique UIDs and panel IDs, the Prometheus datasource
// variable on every panel and query, unique refIds, defined variables, and
// panels inside the 24-column grid.
func TestDashboardsStructure(t *testing.T) {
	uids := map[string]string{}
	for _, d := range loadDashboards(t) {
		if d.UID == "" || d.Title == "" {
			t.Errorf("%s: no uid or title", d.file)
		}
		if other, dup := uids[d.UID]; dup {
			t.Errorf("%s and %s share uid %s", d.file, other, d.UID)
		}
		uids[d.UID] = d.file
		vars, err := d.defaults()
		if err != nil {
			t.Errorf("%s: %v", d.file, err)
			continue
		}
		if !slices.ContainsFunc(d.Templating.List, func(v variable) bool { return v.Type == "datasource" && v.Name == "datasource" }) {
			t.Errorf("%s: no datasource variable", d.file)
		}
		ids := map[int]bool{}
		for _, p := range d.Panels {
			where := fmt.Sprintf("%s panel %d %q", d.file, p.ID, p.Title)
			if ids[p.ID] || p.ID == 0 {
				t.Errorf("%s: duplicate or zero id", where)
			}
			ids[p.ID] = true
			if p.Datasource.UID != "${datasource}" {
				t.Errorf("%s: datasource %+v, want the ${datasource} variable", where, p.Datasource)
			}
			if g := p.GridPos; g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
				t.Errorf("%s: gridPos %+v outside the 24-column grid", where, g)
			}
			if _, err := substitute(p.Title, vars); err != nil {
				t.Errorf("%s title: %v", where, err)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no queries", where)
			}
			refs := map[string]bool{}
			for _, q := range p.Targets {
				if refs[q.RefID] || q.RefID == "" || q.Expr == "" || q.Datasource.UID != "${datasource}" {
					t.Errorf("%s query %q: want a unique refId, an expression and the ${datasource} variable", where, q.RefID)
				}
				refs[q.RefID] = true
				if _, err := substitute(q.Expr, vars); err != nil {
					t.Errorf("%s query %s: %v", where, q.RefID, err)
				}
			}
		}
	}
}

// TestPanelsAgainstPrometheus runs the demo, has a real Prometheus scrape
// its self-metrics every second, and evaluates every panel's query through
// Prometheus' HTTP API: each must parse and return at least one number.
func TestPanelsAgainstPrometheus(t *testing.T) {
	bin := testenv.LookPath(t, "prometheus", "prometheus")
	boards := loadDashboards(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()

	addrs := startDemo(t, ctx)
	go driveAPIs(ctx, addrs.API)
	prom := startPrometheus(t, ctx, bin, strings.TrimPrefix(addrs.Metrics, "http://"))
	// rate() needs two scrapes in its window, a histogram quantile two
	// scrapes with requests between them: wait for six scrapes.
	if err := prom.waitFor(ctx, `count_over_time(up{job="rtcscale"}[1m]) >= 6 and up{job="rtcscale"} == 1`); err != nil {
		t.Fatalf("Prometheus never scraped the demo six times: %v\n%s", err, prom.log())
	}

	for _, d := range boards {
		vars, err := d.defaults()
		if err != nil {
			t.Fatalf("%s: %v", d.file, err)
		}
		for _, p := range d.Panels {
			for _, q := range p.Targets {
				expr, err := substitute(q.Expr, vars)
				if err != nil {
					t.Fatalf("%s: %v", d.file, err)
				}
				where := fmt.Sprintf("%s / %q / %s", d.file, p.Title, q.RefID)
				// Some series appear only after the demo has run a while
				// (forecasts need history, a loaded machine is slow), so
				// each query is polled until it returns data; a query that
				// does not parse fails at once, one that never returns data
				// fails at the deadline.
				err = prom.waitFor(ctx, expr)
				switch {
				case errors.Is(err, context.DeadlineExceeded):
					t.Errorf("%s: no data%s\n  query: %s", where, prom.missingMetrics(context.Background(), expr), expr)
				case err != nil:
					t.Errorf("%s: %v\n  query: %s", where, err, expr)
				}
			}
		}
	}
}

// startDemo runs `rtcscale demo` in-process on free loopback ports until
// the test ends.
func startDemo(t *testing.T, ctx context.Context) demo.Addrs {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	ready := make(chan demo.Addrs, 1)
	done := make(chan error, 1)
	go func() {
		done <- demo.Run(ctx, demo.Config{
			Listen: "127.0.0.1:0", MetricsListen: "127.0.0.1:0", NATSPort: -1, // -1: any free port
			Interval: 250 * time.Millisecond,
		}, io.Discard, func(a demo.Addrs) { ready <- a })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo: %v", err)
		}
	})
	select {
	case a := <-ready:
		return a
	case err := <-done:
		t.Fatalf("demo: %v", err)
	case <-ctx.Done():
		t.Fatalf("demo never became ready")
	}
	return demo.Addrs{}
}

// driveAPIs asks the demo's metrics APIs what HPAs ask, ten times a second,
// so that the latency and freshness histograms fill.
func driveAPIs(ctx context.Context, api string) {
	paths := []string{
		"/apis/custom.metrics.k8s.io/v1beta2/namespaces/voice/pods/*/calls?labelSelector=app%3Dasterisk",
		"/apis/custom.metrics.k8s.io/v1beta2/namespaces/voice/deployments.apps/asterisk/calls",
		"/apis/custom.metrics.k8s.io/v1beta2/namespaces/meet/metrics/participants",
		"/apis/external.metrics.k8s.io/v1beta1/namespaces/voice/calls?labelSelector=kind%3Dasterisk",
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, p := range paths {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, api+p, nil)
			if err != nil {
				return
			}
			if resp, err := http.DefaultClient.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

type prometheus struct {
	url    string
	mu     sync.Mutex
	output strings.Builder
}

func (p *prometheus) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.output.Write(b)
}

func (p *prometheus) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.output.String()
}

// startPrometheus runs the Prometheus binary with a temporary TSDB,
// scraping target every second, on a free loopback port, until the test
// ends.
func startPrometheus(t *testing.T, ctx context.Context, bin, target string) *prometheus {
	t.Helper()
	dir := t.TempDir()
	config := fmt.Sprintf(`global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: rtcscale
    honor_labels: true
    static_configs: [{targets: [%q]}]
`, target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	p := &prometheus{url: "http://127.0.0.1:" + strconv.Itoa(port)}
	cmd := exec.Command(bin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:"+strconv.Itoa(port),
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = p, p
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	if err := poll(ctx, exited, func() (bool, error) {
		resp, err := http.Get(p.url + "/-/ready")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	}); err != nil {
		t.Fatalf("Prometheus never became ready: %v\n%s", err, p.log())
	}
	return p
}

// poll calls cond every 100 ms until it holds, fails, ctx ends or exited
// closes.
func poll(ctx context.Context, exited <-chan struct{}, cond func() (bool, error)) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		if ok || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return errors.New("the process exited")
		case <-tick.C:
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// queryResult is /api/v1/query's answer.
type queryResult struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

// numbers evaluates expr now and returns how many of its values are
// numbers (not NaN); a parse or evaluation error is an error.
func (p *prometheus) numbers(ctx context.Context, expr string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url+"/api/v1/query?query="+url.QueryEscape(expr), nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var r queryResult
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, fmt.Errorf("HTTP %d: %w", resp.StatusCode, err)
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("%s: %s", r.ErrorType, r.Error)
	}
	var values []string
	switch r.Data.ResultType {
	case "scalar":
		var v [2]any
		if err := json.Unmarshal(r.Data.Result, &v); err != nil {
			return 0, err
		}
		values = append(values, fmt.Sprint(v[1]))
	case "vector":
		var vs []struct {
			Value [2]any `json:"value"`
		}
		if err := json.Unmarshal(r.Data.Result, &vs); err != nil {
			return 0, err
		}
		for _, v := range vs {
			values = append(values, fmt.Sprint(v.Value[1]))
		}
	default:
		return 0, fmt.Errorf("unexpected result type %s", r.Data.ResultType)
	}
	n := 0
	for _, v := range values {
		if v != "NaN" {
			n++
		}
	}
	return n, nil
}

// waitFor polls expr until it returns a number.
func (p *prometheus) waitFor(ctx context.Context, expr string) error {
	return poll(ctx, nil, func() (bool, error) {
		n, err := p.numbers(ctx, expr)
		return n > 0, err
	})
}

var metricName = regexp.MustCompile(`\b(?:rtcscale|process|go)_[a-z0-9_]+\b`)

// missingMetrics names the metrics of expr that Prometheus has no series
// of, to tell a missing metric from a wrong query.
func (p *prometheus) missingMetrics(ctx context.Context, expr string) string {
	var missing []string
	for _, name := range metricName.FindAllString(expr, -1) {
		if slices.Contains(missing, name) {
			continue
		}
		if n, err := p.numbers(ctx, fmt.Sprintf("count({__name__=%q})", name)); err == nil && n == 0 {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return ""
	}
	return fmt.Sprintf(": the demo exports no %s", strings.Join(missing, ", "))
}
