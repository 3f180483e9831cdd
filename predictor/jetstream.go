package predictor

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// StoreConfig names and sizes the JetStream stream that keeps histories.
type StoreConfig struct {
	// Stream is the stream's name. Default RTCSCALE_HISTORY.
	Stream string
	// Subject is the subject prefix; each workload publishes on
	// <Subject>.<encoded workload key>. Default rtcscale.history.v1.
	Subject string
	// MaxAge is how long samples are kept. Default 36 days: the five weeks
	// the weekly profile reads, and a day of slack. At least 5 weeks.
	MaxAge time.Duration
	// Duplicates is the window in which two messages with the same ID (the
	// same workload and slot, written by two adapter replicas) are stored
	// once. Default 10m: replicas write a minute within seconds of each
	// other.
	Duplicates time.Duration
	// Replicas is the stream's replication in a NATS cluster. Default 1.
	Replicas int
}

func (c StoreConfig) withDefaults() StoreConfig {
	if c.Stream == "" {
		c.Stream = "RTCSCALE_HISTORY"
	}
	if c.Subject == "" {
		c.Subject = "rtcscale.history.v1"
	}
	if c.MaxAge == 0 {
		c.MaxAge = 36 * 24 * time.Hour
	}
	c.MaxAge = max(c.MaxAge, 5*7*24*time.Hour)
	if c.Duplicates <= 0 {
		c.Duplicates = 10 * time.Minute
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	return c
}

// Store persists per-workload aggregates in a JetStream stream, one message
// per workload and slot, so that a restarted adapter gets its histories back
// without a volume. Every replica of the adapter writes; the message ID
// (workload and slot) makes JetStream keep one copy.
type Store struct {
	js  jetstream.JetStream
	cfg StoreConfig
}

// OpenStore creates the stream, or updates its limits, and returns a Store
// writing to it. A failure of NATS or JetStream is a *StoreError.
func OpenStore(ctx context.Context, js jetstream.JetStream, cfg StoreConfig) (*Store, error) {
	cfg = cfg.withDefaults()
	before := js.Conn().LastError()
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       cfg.Stream,
		Subjects:   []string{cfg.Subject + ".>"},
		MaxAge:     cfg.MaxAge,
		Duplicates: cfg.Duplicates,
		Replicas:   cfg.Replicas,
		Storage:    jetstream.FileStorage,
		Discard:    jetstream.DiscardOld,
	})
	if err != nil {
		return nil, cfg.diagnose(js.Conn(), before, err)
	}
	return &Store{js: js, cfg: cfg}, nil
}

// ReadStore returns a Store over an existing stream that only reads it
// (Load): unlike OpenStore it neither creates the stream nor changes its
// limits, for tools that look at an adapter's histories.
func ReadStore(js jetstream.JetStream, cfg StoreConfig) *Store {
	return &Store{js: js, cfg: cfg.withDefaults()}
}

// sample is a stored message's body. The workload key is in the body (the
// subject token is an encoding of it, for routing only).
type sample struct {
	Workload string  `json:"w"`
	Unix     int64   `json:"t"` // start of the slot, unix seconds
	Value    float64 `json:"v"`
}

// Append stores the aggregate v of workload for the slot of the given step
// that contains t. Writing the same workload and slot again within the
// duplicates window is a no-op.
func (s *Store) Append(ctx context.Context, workload string, step time.Duration, t time.Time, v float64) error {
	if workload == "" {
		return fmt.Errorf("%w: empty workload key", ErrRejected)
	}
	if err := checkStep(step); err != nil {
		return err
	}
	slot := t.Truncate(step).Unix()
	body, err := json.Marshal(sample{Workload: workload, Unix: slot, Value: v})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRejected, err) // NaN or Inf
	}
	id := workload + "@" + strconv.FormatInt(slot, 10)
	_, err = s.js.Publish(ctx, s.subject(workload), body, jetstream.WithMsgID(id))
	return err
}

// subject encodes the workload key into one subject token: keys hold "/"
// and "." and may hold anything else.
func (s *Store) subject(workload string) string {
	return s.cfg.Subject + "." + base64.RawURLEncoding.EncodeToString([]byte(workload))
}

// LoadStats says what Load read.
type LoadStats struct {
	Messages int
	// Rejected counts messages that did not decode or that History.Add
	// refused (older than the history holds, bad values).
	Rejected int
}

// Load reads the whole stream into one History per workload (step and
// capacity as NewHistory). It reads up to the last message stored when it
// starts; later ones are the adapter's to add as it writes them. A failure
// of NATS or JetStream is a *StoreError.
func (s *Store) Load(ctx context.Context, step time.Duration, capacity int) (map[string]*History, LoadStats, error) {
	if err := checkStep(step); err != nil || capacity <= 0 {
		return nil, LoadStats{}, fmt.Errorf("load history: invalid step %s or capacity %d", step, capacity)
	}
	before := s.js.Conn().LastError()
	hs, st, err := s.load(ctx, step, capacity)
	return hs, st, s.cfg.diagnose(s.js.Conn(), before, err)
}

func (s *Store) load(ctx context.Context, step time.Duration, capacity int) (map[string]*History, LoadStats, error) {
	var st LoadStats
	hs := map[string]*History{}
	stream, err := s.js.Stream(ctx, s.cfg.Stream)
	if err != nil {
		return nil, st, err
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return nil, st, err
	}
	last := info.State.LastSeq
	if info.State.Msgs == 0 {
		return hs, st, nil
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return nil, st, err
	}
	it, err := cons.Messages()
	if err != nil {
		return nil, st, err
	}
	defer it.Stop()
	// Next blocks without a context; stop the iterator when ctx ends.
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return nil, st, ctx.Err()
			}
			return nil, st, fmt.Errorf("read history stream: %w", err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return nil, st, err
		}
		st.Messages++
		var smp sample
		if json.Unmarshal(msg.Data(), &smp) != nil || smp.Workload == "" {
			st.Rejected++
		} else {
			h := hs[smp.Workload]
			if h == nil {
				h = NewHistory(step, capacity)
				hs[smp.Workload] = h
			}
			if err := h.Add(time.Unix(smp.Unix, 0), smp.Value); errors.Is(err, ErrRejected) {
				st.Rejected++
			}
		}
		if meta.Sequence.Stream >= last {
			return hs, st, nil
		}
	}
}
