package whatif

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

const step = 15 * time.Second

func testFleet(mod func(*Fleet)) *fleet {
	cfg := Fleet{Capacity: 10, Startup: 30 * time.Second, CallDuration: 3 * time.Minute, Grace: 30 * time.Second, Seed: 7}
	if mod != nil {
		mod(&cfg)
	}
	return newFleet(cfg, step)
}

// readyFleet returns a fleet of ready pods with the given loads, in list
// order, as advance would leave it before a dispatch.
func readyFleet(capacity int, loads ...int32) *fleet {
	f := testFleet(func(c *Fleet) { c.Capacity = capacity })
	f.add(int32(len(loads)))
	f.warm(0, rand.New(rand.NewPCG(1, 1)))
	for i, l := range loads {
		f.pods[i].calls = l
	}
	f.tallyForTest()
	return f
}

// tallyForTest recomputes what advance tallies, without moving time.
func (f *fleet) tallyForTest() {
	f.nReady, f.readyCalls, f.lo, f.hi = 0, 0, f.capacity, 0
	clear(f.hist)
	for _, p := range f.pods {
		if p.phase == ready {
			f.nReady++
			f.readyCalls += int64(p.calls)
			f.hist[p.calls]++
			f.lo, f.hi = min(f.lo, p.calls), max(f.hi, p.calls)
		}
	}
}

// naiveDispatch is the dispatcher call by call: each call to the least
// loaded ready pod with room, the first in list order among equals.
func naiveDispatch(loads []int32, capacity int32, n int) ([]int32, int) {
	out := slices.Clone(loads)
	rejected := 0
	for range n {
		best := -1
		for i, l := range out {
			if l < capacity && (best < 0 || l < out[best]) {
				best = i
			}
		}
		if best < 0 {
			rejected++
			continue
		}
		out[best]++
	}
	return out, rejected
}

func TestDispatchIsLeastLoaded(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for trial := range 500 {
		capacity := int32(1 + r.IntN(120))
		loads := make([]int32, 1+r.IntN(40))
		for i := range loads {
			loads[i] = int32(r.IntN(int(capacity) + 1))
		}
		n := r.IntN(int(capacity) * len(loads) * 5 / 4)
		want, wantRejected := naiveDispatch(loads, capacity, n)
		f := readyFleet(int(capacity), loads...)
		rejected := f.dispatch(int64(n), 0)
		got := make([]int32, len(loads))
		for i := range f.pods {
			got[i] = f.pods[i].calls
		}
		if !slices.Equal(got, want) || rejected != int64(wantRejected) {
			t.Fatalf("trial %d: %v + %d calls (capacity %d): got %v, %d rejected; want %v, %d", trial, loads, n, capacity, got, rejected, want, wantRejected)
		}
		for _, h := range f.hist {
			if h != 0 {
				t.Fatalf("trial %d: histogram left dirty: %v", trial, f.hist)
			}
		}
	}
}

func TestDispatchSkipsStartingAndDrainingPods(t *testing.T) {
	f := readyFleet(10, 0, 0, 0)
	f.pods[0].phase = starting
	f.pods[2].phase = draining
	f.tallyForTest()
	if rej := f.dispatch(15, 0); rej != 5 || f.pods[1].calls != 10 || f.pods[0].calls != 0 || f.pods[2].calls != 0 {
		t.Fatalf("rejected %d, pods %+v", rej, f.pods)
	}
}

func TestStartupDelay(t *testing.T) {
	f := testFleet(func(c *Fleet) { c.Startup = time.Minute })
	f.add(2) // at step 0: ready at step 4
	for k := int64(1); k <= 4; k++ {
		f.advance(k, 0)
		if want := map[bool]int32{true: 2, false: 0}[k >= 4]; f.nReady != want {
			t.Fatalf("step %d: %d ready, want %d", k, f.nReady, want)
		}
	}
	jit := testFleet(func(c *Fleet) { c.Startup, c.StartupJitter = time.Minute, 30*time.Second })
	jit.add(200)
	lo, hi := int64(math.MaxInt64), int64(0)
	for _, p := range jit.pods {
		lo, hi = min(lo, p.readyAt), max(hi, p.readyAt)
	}
	if lo != 2 || hi != 6 {
		t.Fatalf("start-up 1m ± 30s at 15 s steps: ready between steps %d and %d, want 2 and 6", lo, hi)
	}
}

// TestStartupStateObservation: how starting pods show to a Pods metric.
func TestStartupStateObservation(t *testing.T) {
	for state, check := range map[StartupState]func(o observation) bool{
		StartMissing: func(o observation) bool { return o.pods.Missing == 2 && o.pods.WithValue == 1 },
		StartPending: func(o observation) bool { return o.pods.Pending == 2 && o.pods.WithValue == 1 },
		StartZero:    func(o observation) bool { return o.pods.WithValue == 3 && o.pods.SumMilli == 5000 },
	} {
		f := testFleet(func(c *Fleet) { c.StartupState = state })
		f.add(1)
		f.warm(5, rand.New(rand.NewPCG(9, 9))) // Poisson(5) calls on the ready pod
		f.pods[0].calls, f.readyCalls, f.calls = 5, 5, 5
		f.add(2)
		o := f.observe()
		if !check(o) || o.target.ReadyPods != 1 || o.target.SpecReplicas != 3 || o.serving != 5 {
			t.Errorf("state %d: %+v", state, o)
		}
	}
}

// TestDrainingCallsAreNotLoad: the Object metrics and the forecast read the
// calls on the pods that take calls, as the adapter serves them: a
// deleted pod's calls drain, and count 0.
func TestDrainingCallsAreNotLoad(t *testing.T) {
	f := readyFleet(10, 3, 7)
	f.calls = 10
	f.cfg.Grace = time.Hour
	f.remove(1) // deletion ranks pick one; its calls drain
	o := f.observe()
	left := int64(f.pods[0].calls)
	if f.pods[0].phase == draining {
		left = int64(f.pods[1].calls)
	}
	if o.serving != left || f.calls != 10 {
		t.Fatalf("serving %d, calls in progress %d: want the serving pod's %d of 10", o.serving, f.calls, left)
	}
}

func TestFixedDurationsEndOnTime(t *testing.T) {
	f := testFleet(func(c *Fleet) { c.Durations, c.CallDuration, c.Startup = Fixed, time.Minute, 0 })
	f.add(1)
	f.advance(0, 0)
	f.advance(1, 7) // 7 calls at step 1 end at step 5
	for k := int64(2); k <= 5; k++ {
		f.advance(k, 0)
		if want := map[bool]int32{true: 0, false: 7}[k == 5]; f.pods[0].calls != want {
			t.Fatalf("step %d: %d calls, want %d", k, f.pods[0].calls, want)
		}
	}
}

// TestExponentialLittlesLaw: with a constant offered load the calls in
// progress average the load (Little's law), for both distributions.
func TestExponentialLittlesLaw(t *testing.T) {
	for _, d := range []Durations{Exponential, Fixed} {
		f := testFleet(func(c *Fleet) { c.Capacity, c.Durations = 1000, d })
		f.add(3)
		r := rand.New(rand.NewPCG(5, 5))
		f.warm(1500, r)
		sum, n := 0.0, 4000
		for k := 1; k <= n; k++ {
			f.advance(int64(k), poisson(r, 1500*(1-f.retention())))
			sum += float64(f.calls)
		}
		if mean := sum / float64(n); math.Abs(mean-1500) > 15 {
			t.Errorf("durations %d: mean calls %.1f, want 1500 ± 1%%", d, mean)
		}
	}
}

// TestVictimOrder checks ActivePodsWithRanks: not ready first, then (with
// pod-deletion-cost) fewest calls, then the most recently ready on a log2
// time scale, ties by UID.
func TestVictimOrder(t *testing.T) {
	build := func(v Victims) *fleet {
		f := testFleet(func(c *Fleet) { c.Victims, c.Startup = v, 0 })
		f.add(4)
		f.pods[0].readyAt, f.pods[1].readyAt, f.pods[2].readyAt, f.pods[3].readyAt = 0, 1000, 1500, 0
		for i := range 4 {
			f.pods[i].phase = ready
			f.pods[i].uid = uint64(10 - i)
		}
		f.pods[0].calls, f.pods[1].calls, f.pods[2].calls, f.pods[3].calls = 3, 9, 5, 3
		f.add(1) // pod 4: starting
		f.now = 2000
		return f
	}
	order := func(f *fleet) []int {
		f.order = f.order[:0]
		for i := range f.pods {
			f.order = append(f.order, i)
		}
		slices.SortFunc(f.order, f.deleteFirst)
		return f.order
	}
	// Ready ages: pods 0 and 3 for 2000 steps (log2 rank 35), pod 1 for
	// 1000 (34), pod 2 for 500 (32); 0 and 3 tie and go by UID.
	if got, want := order(build(ReplicaSetOrder)), []int{4, 2, 1, 3, 0}; !slices.Equal(got, want) {
		t.Errorf("ReplicaSet order: %v, want %v", got, want)
	}
	if got, want := order(build(DeletionCost)), []int{4, 3, 0, 2, 1}; !slices.Equal(got, want) {
		t.Errorf("deletion-cost order: %v, want %v", got, want)
	}
}

// TestDrainAndCut deletes one of two pods carrying 20 calls each, all
// ending at step 4, under each drain policy.
func TestDrainAndCut(t *testing.T) {
	for _, tc := range []struct {
		name  string
		drain Drain
		grace time.Duration
		cut   int64
		exit  int64 // step the deleted pod is gone at
	}{
		{"no grace cuts every call", DrainUntilEmpty, 0, 20, 0},
		{"a grace longer than any call drains", DrainUntilEmpty, time.Hour, 0, 4},
		// 30 s is two steps: the pod goes at step 2, before its calls end
		// at step 4.
		{"calls still up after the grace are cut", DrainUntilEmpty, 30 * time.Second, 20, 2},
		{"none cuts every call at once, whatever the grace", DrainNone, time.Hour, 20, 0},
		{"sleep runs out the grace after its calls end", DrainSleep, 5 * time.Minute, 0, 20},
		{"sleep cuts what outlives the grace", DrainSleep, 30 * time.Second, 20, 2},
		{"sleep without grace is none", DrainSleep, 0, 20, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := testFleet(func(c *Fleet) {
				c.Capacity, c.Durations, c.CallDuration, c.Drain, c.Grace, c.Startup = 100, Fixed, time.Minute, tc.drain, tc.grace, 0
			})
			f.add(2)
			f.advance(0, 40) // 20 each, ending at step 4
			f.remove(1)
			if f.active != 1 || f.deletedPods != 1 {
				t.Fatalf("after remove: %d active, %d deleted", f.active, f.deletedPods)
			}
			exit := int64(0)
			for k := int64(1); k <= 30 && len(f.pods) > 1; k++ {
				f.advance(k, 0)
				exit = k
			}
			if len(f.pods) != 1 || exit != tc.exit || f.longest != tc.exit {
				t.Fatalf("deleted pod gone at step %d after a drain of %d (%d pods left), want %d", exit, f.longest, len(f.pods), tc.exit)
			}
			for k := exit + 1; k <= 6; k++ {
				f.advance(k, 0)
			}
			if f.cut != tc.cut || f.calls != 0 {
				t.Fatalf("cut %d, want %d; %d calls left", f.cut, tc.cut, f.calls)
			}
		})
	}
}

// TestLongestDrainUnderWay: a drain that outlasts the replay counts until
// its end.
func TestLongestDrainUnderWay(t *testing.T) {
	f := testFleet(func(c *Fleet) { c.Drain, c.Grace, c.Startup = DrainSleep, time.Hour, 0 })
	f.add(3)
	f.advance(0, 0)
	f.remove(1)
	f.advance(1, 0)
	f.remove(1)
	for k := int64(2); k < 10; k++ {
		f.advance(k, 0)
	}
	if got := f.longestDrain(10); got != 10 || f.longest != 0 {
		t.Fatalf("longest drain %d steps (%d ended), want 10 steps, none ended", got, f.longest)
	}
}

func TestPoisson(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 11))
	for _, mean := range []float64{0.5, 7, 29, 31, 400} {
		var sum, sq float64
		const n = 20000
		for range n {
			k := float64(poisson(r, mean))
			sum += k
			sq += k * k
		}
		m := sum / n
		v := sq/n - m*m
		if math.Abs(m-mean) > 4*math.Sqrt(mean/n) || math.Abs(v/mean-1) > 0.05 {
			t.Errorf("mean %v: sample mean %.3f, variance %.3f", mean, m, v)
		}
	}
	if poisson(r, -3) != 0 || poisson(r, 0) != 0 {
		t.Error("non-positive mean gave calls")
	}
}

func TestFleetValidate(t *testing.T) {
	ok := Fleet{Capacity: 100, Startup: time.Minute, CallDuration: 3 * time.Minute}
	if err := ok.validate(step); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*Fleet){
		"zero capacity":  func(f *Fleet) { f.Capacity = 0 },
		"jitter > start": func(f *Fleet) { f.StartupJitter = 2 * time.Minute },
		"short calls":    func(f *Fleet) { f.CallDuration = time.Second },
		"negative grace": func(f *Fleet) { f.Grace = -time.Second },
		"bad victims":    func(f *Fleet) { f.Victims = 9 },
		"bad drain":      func(f *Fleet) { f.Drain = 9 },
	} {
		f := ok
		mod(&f)
		if f.validate(step) == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
