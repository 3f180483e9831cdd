package sidecar

import "context"

// Drainer is a Source whose server can be told, through its own interface,
// to stop taking new calls (sessions, participants) while it keeps those it
// carries: Asterisk's "core stop gracefully", JVB's drain mode, rtpengine's
// maxsessions 0. A Kamailio proxy has no such state; the dispatcher in
// front of its backends is told instead (see Dispatcher).
type Drainer interface {
	Source
	// Drain puts the server in drain mode. It returns once the server has
	// accepted the request, not when it is empty: the caller watches the
	// load the Source reads for that. Publisher.Run calls it from the
	// goroutine that calls Read, never both at once, with a deadline of
	// one interval; after an error it calls Drain again at the next poll,
	// and never again once Drain returned nil.
	Drain(ctx context.Context) error
}
