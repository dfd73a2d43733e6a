package natsrelay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// StreamConfig names the JetStream stream that a relay publishes to, and
// the limits it is created with if it does not exist. The zero value of
// each limit means the default it documents.
type StreamConfig struct {
	// Name is the stream's name; empty means "SHARECAST".
	Name string

	// Subjects are the subjects the stream is bound to when created; nil
	// means the relay's subject alone. An existing stream is used as it
	// is, and must hold the relay's subject (the server refuses publishes
	// to a subject no stream holds, and the relay counts them as failed).
	Subjects []string

	// NoCreate makes [EnsureStream] return ErrNoStream rather than create
	// a stream that does not exist.
	NoCreate bool

	// Memory stores the stream in memory rather than on file (the
	// default): faster, and lost when the server stops.
	Memory bool

	// Retention is "limits" (the default: messages are kept until a
	// limit below removes the oldest), "interest" (kept while a consumer
	// has not acknowledged them) or "workqueue".
	Retention string

	// MaxBytes caps the stream's size; 0 means 1 GiB, -1 no cap. The
	// oldest messages go first.
	MaxBytes int64
	// MaxMsgs caps its message count; 0 means no cap.
	MaxMsgs int64
	// MaxAge is how long messages are kept; 0 means 24 hours, -1 for ever.
	MaxAge time.Duration

	// Replicas is the number of copies of the stream in a cluster; 0
	// means 1.
	Replicas int

	// Duplicates is the window in which the server drops a message whose
	// ID it has stored already (a relay's retry of a datagram whose
	// acknowledgement was lost); 0 means 2 minutes. A relay's retries must
	// fall within it: PublisherConfig.RetryFor is at most this.
	Duplicates time.Duration
}

// DefaultStream is the stream name used when StreamConfig.Name is empty.
const DefaultStream = "SHARECAST"

// EnsureStream returns the stream that cfg names, creating it bound to
// subject (or cfg.Subjects) if it does not exist, unless cfg.NoCreate
// says to return ErrNoStream.
func EnsureStream(ctx context.Context, js jetstream.JetStream, subject string, cfg *StreamConfig) (jetstream.Stream, error) {
	if cfg == nil {
		cfg = &StreamConfig{}
	}
	sc, err := cfg.jetstream(subject)
	if err != nil {
		return nil, err
	}
	s, err := js.Stream(ctx, sc.Name)
	if err == nil {
		return s, nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("natsrelay: stream %s: %w", sc.Name, err)
	}
	if cfg.NoCreate {
		return nil, fmt.Errorf("natsrelay: stream %s (not created: no-create was asked): %w", sc.Name, ErrNoStream)
	}
	s, err = js.CreateStream(ctx, sc)
	if err != nil {
		return nil, fmt.Errorf("natsrelay: create stream %s on %v: %w", sc.Name, sc.Subjects, err)
	}
	return s, nil
}

func (cfg *StreamConfig) jetstream(subject string) (jetstream.StreamConfig, error) {
	sc := jetstream.StreamConfig{
		Name:       cfg.Name,
		Subjects:   cfg.Subjects,
		Storage:    jetstream.FileStorage,
		MaxBytes:   cfg.MaxBytes,
		MaxMsgs:    cfg.MaxMsgs,
		MaxAge:     cfg.MaxAge,
		Replicas:   cfg.Replicas,
		Duplicates: cfg.Duplicates,
		Discard:    jetstream.DiscardOld,
	}
	if sc.Name == "" {
		sc.Name = DefaultStream
	}
	if len(sc.Subjects) == 0 {
		if subject == "" {
			return sc, fmt.Errorf("natsrelay: stream %s: no subject: %w", sc.Name, ErrInvalidConfig)
		}
		sc.Subjects = []string{subject}
	}
	if cfg.Memory {
		sc.Storage = jetstream.MemoryStorage
	}
	switch cfg.Retention {
	case "", "limits":
		sc.Retention = jetstream.LimitsPolicy
	case "interest":
		sc.Retention = jetstream.InterestPolicy
	case "workqueue":
		sc.Retention = jetstream.WorkQueuePolicy
	default:
		return sc, fmt.Errorf("natsrelay: stream %s: retention %q (limits, interest or workqueue): %w", sc.Name, cfg.Retention, ErrInvalidConfig)
	}
	switch {
	case sc.MaxBytes == 0:
		sc.MaxBytes = 1 << 30
	case sc.MaxBytes < -1:
		return sc, fmt.Errorf("natsrelay: stream %s: max bytes %d: %w", sc.Name, sc.MaxBytes, ErrInvalidConfig)
	}
	if sc.MaxMsgs == 0 {
		sc.MaxMsgs = -1
	}
	switch {
	case sc.MaxAge == 0:
		sc.MaxAge = 24 * time.Hour
	case sc.MaxAge < 0:
		sc.MaxAge = 0 // for ever, to the server
	}
	if sc.Replicas == 0 {
		sc.Replicas = 1
	}
	if sc.Duplicates == 0 {
		sc.Duplicates = 2 * time.Minute
	}
	if sc.Duplicates < 0 || sc.Replicas < 0 {
		return sc, fmt.Errorf("natsrelay: stream %s: replicas %d, duplicates window %v: %w", sc.Name, sc.Replicas, sc.Duplicates, ErrInvalidConfig)
	}
	return sc, nil
}
