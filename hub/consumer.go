package hub

import "github.com/rs/zerolog"

// AttachConfig configures Attach. The zero value, as a nil *AttachConfig,
// means the defaults that each field documents.
type AttachConfig struct {
	// TrustUIDs are the users, besides the consumer's own and root, whose
	// hub the consumer accepts. Whoever listens under a hub's name could
	// feed the consumer anything, so by default a hub of another user is
	// refused with ErrUntrustedHub.
	TrustUIDs []int

	// Logger receives the consumer's log events. The zero value logs
	// nothing.
	Logger zerolog.Logger
}
