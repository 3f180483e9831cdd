package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtcscale/rtcscale/sample"
)

// WarmConfig describes the JetStream stream that keeps the latest sample of
// every pod, so that a starting adapter serves at once instead of waiting a
// publish interval for each pod to speak again (a window in which the HPA
// would see every pod missing).
//
// The stream only captures what sidecars already publish on core NATS: they
// need no change, and an adapter without JetStream works as before.
type WarmConfig struct {
	// Stream names the stream; the adapter creates it or updates its limits.
	Stream string
	// Prefix is the samples' subject prefix; the stream captures Prefix.>.
	Prefix string
	// Replicas is the stream's replication in a NATS cluster (1 or 3).
	// Default 1.
	Replicas int
	// Memory keeps the stream in the servers' memory instead of on disk:
	// cheaper, but a restart of NATS itself then empties it.
	Memory bool
	// MaxAge drops samples older than this; no sample stays fresh longer
	// than StaleAfter × 5 minutes, the longest publish interval. Default 1h.
	MaxAge time.Duration
	// MaxMsgs bounds the stream as MaxSeries bounds the store, so that a
	// publisher inventing pod names cannot fill the servers either; the
	// oldest samples go first. Default 200000.
	MaxMsgs int64
}

func (c WarmConfig) withDefaults() WarmConfig {
	if c.Prefix == "" {
		c.Prefix = sample.DefaultSubjectPrefix
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.MaxAge <= 0 {
		c.MaxAge = time.Hour
	}
	if c.MaxMsgs <= 0 {
		c.MaxMsgs = 200000
	}
	return c
}

// EnsureWarmStream creates the stream of cfg, or brings an existing one's
// limits up to date. Every adapter replica calls it; the result is the same.
func EnsureWarmStream(ctx context.Context, js jetstream.JetStream, cfg WarmConfig) error {
	cfg = cfg.withDefaults()
	if cfg.Stream == "" {
		return errors.New("warm-start stream: no name given")
	}
	storage := jetstream.FileStorage
	if cfg.Memory {
		storage = jetstream.MemoryStorage
	}
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:     cfg.Stream,
		Subjects: []string{cfg.Prefix + ".>"},
		// One message per subject is one sample per pod: the stream is
		// a table of latest samples, not a log.
		MaxMsgsPerSubject: 1,
		MaxMsgs:           cfg.MaxMsgs,
		MaxAge:            cfg.MaxAge,
		MaxMsgSize:        sample.MaxSize,
		Discard:           jetstream.DiscardOld,
		Storage:           storage,
		Replicas:          cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("warm-start stream %s: %w", cfg.Stream, err)
	}
	return nil
}

// WarmStats says what a warm load read.
type WarmStats struct {
	// Messages read from the stream, Accepted of them stored.
	Messages, Accepted int
	// Rejected counts the others by reason; a sample that went stale while
	// no adapter ran is too_old, exactly as if it had arrived late.
	Rejected [sample.NumReasons]int
}

// WarmLoad reads the latest sample of every pod from stream and handles each
// as if it had just arrived, through HandleMessage: the same rules, limits
// and counters. It reads until it has caught up with the stream, so it also
// sees what was published while it read. Call it before Start: both use the
// Subscriber's decoder.
func (s *Subscriber) WarmLoad(ctx context.Context, js jetstream.JetStream, stream string) (WarmStats, error) {
	var st WarmStats
	str, err := js.Stream(ctx, stream)
	if err != nil {
		return st, fmt.Errorf("warm-start stream %s: %w", stream, err)
	}
	info, err := str.Info(ctx)
	if err != nil {
		return st, fmt.Errorf("warm-start stream %s: %w", stream, err)
	}
	if info.State.Msgs == 0 {
		return st, nil
	}
	cons, err := str.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{s.prefix + ".>"},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
	})
	if err != nil {
		return st, fmt.Errorf("warm-start stream %s: %w", stream, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return st, err
	}
	defer it.Stop()
	// Next blocks without a context: stop the iterator when ctx ends.
	defer context.AfterFunc(ctx, it.Stop)()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return st, fmt.Errorf("reading warm-start stream %s after %d samples: %w", stream, st.Messages, err)
		}
		st.Messages++
		if r := s.HandleMessage(msg.Subject(), msg.Data()); r == sample.Accepted {
			st.Accepted++
		} else {
			st.Rejected[r]++
		}
		meta, err := msg.Metadata()
		if err != nil {
			return st, err
		}
		if meta.NumPending == 0 {
			return st, nil
		}
	}
}
