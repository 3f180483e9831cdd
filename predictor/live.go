package predictor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/klog/v2"

	"github.com/rtcscale/rtcscale/collector"
	wire "github.com/rtcscale/rtcscale/sample"
)

// LiveConfig tunes a Live. The zero value of a field means its default.
type LiveConfig struct {
	// Step is the resolution of the histories, and how often Run records
	// the workloads' sums. Default 1m.
	Step time.Duration
	// Keep is how much history each workload keeps in memory. Default 5
	// weeks: what the weekly profile reads.
	Keep time.Duration
	// Refit is how often each workload's predictor is refitted. Default
	// 15m; it must stay well under Fit.Validity (2h by default), past
	// which a predictor is reactive.
	Refit time.Duration
	// Fit tunes the fits; its Lead is each workload's own.
	Fit Options
	// Gauges are the gauges forecast; empty means every gauge.
	Gauges []string
	// MaxSeries bounds the histories held (one per workload and gauge, 4
	// bytes per step kept: 197 KiB at the defaults). Default 500. More are
	// refused and counted.
	MaxSeries int
	// Leads say how far ahead each workload looks.
	Leads Leads
	// Now is the clock; tests set it. Default time.Now.
	Now func() time.Time
	// After waits d on Now's clock, as time.After does on the real one
	// (the default). Run ticks on it, so that a clock running faster than
	// real time (the demo's, where a day lasts minutes) is still recorded
	// every Step of its own time.
	After func(d time.Duration) <-chan time.Time
}

func (c LiveConfig) withDefaults() LiveConfig {
	if c.Step <= 0 {
		c.Step = time.Minute
	}
	if c.Keep <= 0 {
		c.Keep = 5 * 7 * 24 * time.Hour
	}
	if c.Refit <= 0 {
		c.Refit = 15 * time.Minute
	}
	if c.MaxSeries <= 0 {
		c.MaxSeries = 500
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.After == nil {
		c.After = time.After
	}
	return c
}

// Live keeps a history of every workload's load and a predictor fitted to
// it, and answers the adapter's forecast queries.
//
// Every step (a minute), Tick reads each workload's sums from the
// collector, adds them to the workloads' histories and appends them to the
// JetStream store, where a restarted adapter finds them again (Load).
// Refit refits the predictors that are due, one at a time, so that fitting
// never takes more than one core. Forecast costs a map lookup and
// Predictor.Serve. Run does all of this on its own.
type Live struct {
	src      Source
	cfg      LiveConfig
	capacity int
	gauges   map[string]bool // nil: every gauge
	metrics  *liveMetrics

	mu     sync.RWMutex
	series map[seriesID]*series
	store  *Store
	// storeErr is why the last Attach failed, while no store is attached.
	storeErr error

	scratch []collector.WorkloadGauge // Tick's
}

type seriesID struct {
	namespace string
	workload  collector.Workload
	gauge     string
}

// series is one workload's gauge: its history and what was fitted to it.
type series struct {
	id  seriesID
	key string // in the JetStream store

	mu        sync.Mutex
	hist      *History
	pred      *Predictor // nil until the first fit
	lead      time.Duration
	current   float64 // the sum recorded at the last tick
	currentAt time.Time
	due       time.Time // of the next fit
}

// NewLive returns a Live that reads src. Its self-metrics, and the
// forecasts as metrics for dashboards, are registered with reg unless it is
// nil.
func NewLive(src Source, cfg LiveConfig, reg prometheus.Registerer) (*Live, error) {
	cfg = cfg.withDefaults()
	if err := checkStep(cfg.Step); err != nil {
		return nil, err
	}
	if cfg.Keep < cfg.Step {
		return nil, fmt.Errorf("history of %s is shorter than its step %s", cfg.Keep, cfg.Step)
	}
	l := &Live{src: src, cfg: cfg, capacity: int(cfg.Keep / cfg.Step), series: map[seriesID]*series{}}
	for _, g := range cfg.Gauges {
		if !wire.ValidGaugeName(g) {
			return nil, fmt.Errorf("%q is not a gauge name", g)
		}
		if l.gauges == nil {
			l.gauges = map[string]bool{}
		}
		l.gauges[g] = true
	}
	l.metrics = newLiveMetrics(l, reg)
	return l, nil
}

// Forecasts reports whether gauge is forecast.
func (l *Live) Forecasts(gauge string) bool { return l.gauges == nil || l.gauges[gauge] }

// Forecast returns the value of <gauge>_forecast for a workload whose
// gauge sums to current now: max(current, the highest upper forecast over
// the workload's lead), or current while its history is too short or its
// load has no daily pattern. ok is false only when the gauge is not
// forecast at all.
func (l *Live) Forecast(namespace string, w collector.Workload, gauge string, current float64) (float64, bool) {
	if !l.Forecasts(gauge) {
		return 0, false
	}
	l.mu.RLock()
	s := l.series[seriesID{namespace, w, gauge}]
	l.mu.RUnlock()
	var p *Predictor
	if s != nil {
		s.mu.Lock()
		p = s.pred
		s.mu.Unlock()
	}
	return p.Serve(l.cfg.Now(), current), true
}

// SeriesKey is the key of a workload's gauge in the JetStream store:
// "namespace/Kind/name/gauge". Kubernetes names hold no "/".
func SeriesKey(namespace string, w collector.Workload, gauge string) string {
	return namespace + "/" + w.Kind.String() + "/" + w.Name + "/" + gauge
}

// ParseSeriesKey splits a SeriesKey.
func ParseSeriesKey(key string) (namespace string, w collector.Workload, gauge string, err error) {
	parts := strings.Split(key, "/")
	if len(parts) == 4 {
		w = collector.Workload{Kind: collector.ParseWorkloadKind(parts[1]), Name: parts[2]}
		if w.Kind != collector.WorkloadNone && wire.IsDNSLabel(parts[0]) && wire.IsDNSSubdomain(w.Name) && wire.ValidGaugeName(parts[3]) {
			return parts[0], w, parts[3], nil
		}
	}
	return "", collector.Workload{}, "", fmt.Errorf("%q is not a history key (namespace/Kind/name/gauge)", key)
}

// write is one value to append to the store.
type write struct {
	key string
	t   time.Time
	v   float64
}

// Tick records each workload's sums as the load of the step that holds
// now, and appends them to the store once one is attached. A workload
// whose sum is incomplete (a pod stopped publishing) gets no value for the
// step: a gap, not a dip that the predictor would learn. It returns the
// first error of the appends, with how many failed; the values are kept in
// memory either way.
func (l *Live) Tick(ctx context.Context, now time.Time) error {
	l.scratch = l.src.Workloads(l.scratch[:0])
	leads := map[seriesID]time.Duration{} // by workload (gauge "")
	var writes []write
	l.mu.Lock()
	for i := range l.scratch {
		e := &l.scratch[i]
		if !l.Forecasts(e.Gauge) || !e.Complete() {
			continue
		}
		id := seriesID{e.Namespace, e.Workload, e.Gauge}
		s := l.series[id]
		if s == nil {
			if len(l.series) >= l.cfg.MaxSeries {
				l.metrics.refused.Inc()
				continue
			}
			s = l.newSeries(id, NewHistory(l.cfg.Step, l.capacity))
		}
		wid := seriesID{namespace: e.Namespace, workload: e.Workload}
		lead, ok := leads[wid]
		if !ok {
			lead = l.lead(e.Namespace, e.Workload)
			leads[wid] = lead
		}
		v := e.Aggregate.Sum
		s.mu.Lock()
		err := s.hist.Add(now, v)
		s.current, s.currentAt, s.lead = v, now, lead
		s.mu.Unlock()
		if err == nil {
			writes = append(writes, write{s.key, now, v})
		}
	}
	// A workload gone for longer than its history is kept has nothing
	// left to forecast from.
	for id, s := range l.series {
		if latest, ok := s.hist.Latest(); ok && now.Sub(latest) > l.cfg.Keep {
			delete(l.series, id)
		}
	}
	st := l.store
	l.mu.Unlock()
	return l.persist(ctx, st, writes)
}

// newSeries adds a series, due for a fit at once; l.mu is held.
func (l *Live) newSeries(id seriesID, h *History) *series {
	s := &series{id: id, key: SeriesKey(id.namespace, id.workload, id.gauge), hist: h}
	l.series[id] = s
	return s
}

// lead is how far ahead the workload looks: as configured, or learned from
// its pods' start-up.
func (l *Live) lead(namespace string, w collector.Workload) time.Duration {
	if d, ok := l.cfg.Leads.fixed(namespace, w.Name); ok {
		return d
	}
	d, _ := l.src.StartupQuantile(namespace, w, learnedLeadQuantile)
	return l.cfg.Leads.learned(d, l.cfg.Step)
}

// persist appends writes to st, if any.
func (l *Live) persist(ctx context.Context, st *Store, writes []write) error {
	if st == nil {
		return nil
	}
	var first error
	failed := 0
	for _, w := range writes {
		if err := st.Append(ctx, w.key, l.cfg.Step, w.t, w.v); err != nil {
			failed++
			first = cmp.Or(first, err)
		}
	}
	l.metrics.writes.Add(float64(len(writes) - failed))
	l.metrics.writeErrors.Add(float64(failed))
	if first != nil {
		return fmt.Errorf("%d of %d history writes failed: %w", failed, len(writes), first)
	}
	return nil
}

// Load reads the histories in st, merges them with what Tick recorded so
// far (and appends that to st, as well as it can), and attaches st so that
// later ticks append to it. The merged predictors are due for a fit at once.
func (l *Live) Load(ctx context.Context, st *Store) error {
	hs, stats, err := st.Load(ctx, l.cfg.Step, l.capacity)
	if err != nil {
		return err
	}
	var writes []write
	var y []float64
	l.mu.Lock()
	for key, h := range hs {
		ns, w, gauge, err := ParseSeriesKey(key)
		if err != nil {
			stats.Rejected++
			continue
		}
		if !l.Forecasts(gauge) {
			continue
		}
		id := seriesID{ns, w, gauge}
		s := l.series[id]
		if s == nil {
			if len(l.series) >= l.cfg.MaxSeries {
				l.metrics.refused.Inc()
				continue
			}
			l.newSeries(id, h).lead = l.lead(ns, w)
			continue
		}
		// The steps recorded before the store was there are newer than
		// what it holds.
		s.mu.Lock()
		y = s.recorded(y, func(t time.Time, v float64) {
			if h.Add(t, v) == nil {
				writes = append(writes, write{s.key, t, v})
			}
		})
		s.hist, s.pred, s.due = h, nil, time.Time{}
		s.mu.Unlock()
	}
	// A series the store does not hold yet has its steps so far appended
	// all the same.
	for _, s := range l.series {
		if _, held := hs[s.key]; held {
			continue
		}
		s.mu.Lock()
		y = s.recorded(y, func(t time.Time, v float64) { writes = append(writes, write{s.key, t, v}) })
		s.mu.Unlock()
	}
	l.store = st
	l.mu.Unlock()
	l.metrics.loaded.Add(float64(stats.Messages))
	l.metrics.loadRejected.Add(float64(stats.Rejected))
	klog.InfoS("Loaded workload histories", "series", len(hs), "messages", stats.Messages, "rejected", stats.Rejected)
	if err := l.persist(ctx, st, writes); err != nil {
		klog.ErrorS(err, "Appending the steps recorded before the history store was there")
	}
	return nil
}

// recorded calls f with each step of s's history that holds a value, oldest
// first, reading it through the scratch y, which it returns; s.mu is held.
func (s *series) recorded(y []float64, f func(t time.Time, v float64)) []float64 {
	y, t0 := s.hist.Snapshot(y)
	for i, v := range y {
		if !math.IsNaN(v) {
			f(t0.Add(time.Duration(i)*s.hist.Step()), v)
		}
	}
	return y
}

// Refit fits the predictors that are due as of now, oldest due first, one
// at a time, until ctx is done; each is due again Refit after its fit
// ends. Fitting the first time after a restart takes up to a second per
// series, which spreads the refits of many series over time by itself. It
// returns how many it fitted.
func (l *Live) Refit(ctx context.Context, now time.Time) int {
	type dueSeries struct {
		s   *series
		due time.Time
	}
	var due []dueSeries
	l.mu.RLock()
	for _, s := range l.series {
		s.mu.Lock()
		if !s.due.After(now) {
			due = append(due, dueSeries{s, s.due})
		}
		s.mu.Unlock()
	}
	l.mu.RUnlock()
	slices.SortFunc(due, func(a, b dueSeries) int {
		return cmp.Or(a.due.Compare(b.due), strings.Compare(a.s.key, b.s.key))
	})
	n := 0
	for _, d := range due {
		s := d.s
		if ctx.Err() != nil {
			break
		}
		s.mu.Lock()
		h, opts := s.hist, l.cfg.Fit
		opts.Lead = s.lead
		s.mu.Unlock()
		start := time.Now()
		p := Fit(h, opts)
		l.metrics.fitSeconds.Observe(time.Since(start).Seconds())
		s.mu.Lock()
		if s.hist == h { // not replaced by Load meanwhile
			s.pred, s.due = p, l.cfg.Now().Add(l.cfg.Refit)
		}
		s.mu.Unlock()
		n++
	}
	return n
}

// Run records, persists and refits until ctx is done: it attaches the
// store that open returns (Attach, retried with backoff from 5 s to 5
// minutes while it fails, say while NATS or JetStream is unavailable;
// forecasts are reactive meanwhile), ticks in the middle of every step so
// that a tick late or early by up to half a step still records its own
// step, and refits in the background.
func (l *Live) Run(ctx context.Context, open func(context.Context) (*Store, error)) {
	kick := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); l.attach(ctx, open) }()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-kick:
				l.Refit(ctx, l.cfg.Now())
			}
		}
	}()
	defer wg.Wait()
	// The first tick is at once, so that a starting adapter records and
	// shows its workloads without waiting for the next step.
	wake := l.cfg.After(0)
	var lastErr time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
		}
		tctx, cancel := context.WithTimeout(ctx, l.cfg.Step/2)
		err := l.Tick(tctx, l.cfg.Now())
		cancel()
		if err != nil && time.Since(lastErr) > 10*time.Minute {
			klog.ErrorS(err, "Appending to the history store; values are kept in memory but not persisted")
			lastErr = time.Now()
		}
		select {
		case kick <- struct{}{}:
		default:
		}
		now := l.cfg.Now()
		next := now.Truncate(l.cfg.Step).Add(l.cfg.Step / 2)
		if !next.After(now) {
			next = next.Add(l.cfg.Step)
		}
		wake = l.cfg.After(next.Sub(now))
	}
}

// attach attaches the store, retrying until it works.
func (l *Live) attach(ctx context.Context, open func(context.Context) (*Store, error)) {
	wait := 5 * time.Second
	for l.Attach(ctx, open) != nil && ctx.Err() == nil {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Minute)
	}
}

// Attach opens the store with open and loads it (Load), once. A failure is
// counted by reason (rtcscale_history_store_errors_total), kept for
// StoreStatus, and logged when its cause differs from the previous
// attempt's: Run retries for as long as the adapter runs, and the cause
// (missing permissions, say) is worth one line, not one every few minutes.
// Nothing is recorded when ctx ends.
func (l *Live) Attach(ctx context.Context, open func(context.Context) (*Store, error)) error {
	st, err := open(ctx)
	if err == nil {
		err = l.Load(ctx, st)
	}
	if ctx.Err() != nil {
		return err
	}
	l.mu.Lock()
	prev := l.storeErr
	l.storeErr = err
	l.mu.Unlock()
	if err == nil {
		if prev != nil {
			klog.InfoS("History store usable now; forecasts learn from it", "stream", st.cfg.Stream)
		}
		return nil
	}
	reason := storeOther
	var se *StoreError
	if errors.As(err, &se) {
		reason = se.Reason
	}
	l.metrics.storeErrors.WithLabelValues(reason).Inc()
	if prev == nil || prev.Error() != err.Error() {
		klog.ErrorS(err, "History store unusable; forecasts are reactive (<gauge>_forecast equals <gauge>) until it works. "+
			"Retried with backoff up to 5m; logged again when the cause changes", "reason", reason)
	}
	return err
}

// StoreStatus is nil once the history store is attached; until then it
// says why forecasts are reactive: not attached yet, or why the last
// Attach failed (a *StoreError when NATS or JetStream is the cause). The
// adapter's /readyz?verbose shows it without failing readiness: every
// value served is still right.
func (l *Live) StoreStatus() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	switch {
	case l.store != nil:
		return nil
	case l.storeErr != nil:
		return fmt.Errorf("forecasts are reactive: %w", l.storeErr)
	}
	return errors.New("forecasts are reactive until the history store is opened and loaded")
}
