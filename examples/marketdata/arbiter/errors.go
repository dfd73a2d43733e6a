package arbiter

import "errors"

// Sentinel errors. Errors returned by this package wrap one of these so that
// callers can match them with errors.Is.
var (
	// ErrInvalidConfig reports a bad Config value; the wrapping error names
	// the field.
	ErrInvalidConfig = errors.New("arbiter: invalid configuration")

	// ErrInvalidLine reports a Line other than LineA and LineB.
	ErrInvalidLine = errors.New("arbiter: invalid line")

	// ErrSequenceOverflow reports a packet whose sequence numbers wrap
	// around past 2^64-1; the arbiter drops it and counts it in
	// LineStats.Invalid.
	ErrSequenceOverflow = errors.New("arbiter: sequence number overflows")

	// ErrForeignSession reports a packet of a session other than the
	// current one that may not replace it (see Config.SessionTimeout);
	// the arbiter drops it and counts it in LineStats.Foreign.
	ErrForeignSession = errors.New("arbiter: packet of a foreign session")
)
