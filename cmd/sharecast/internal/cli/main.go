package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// Main runs the sharecast command line as the program's main function does,
// and returns its exit status: SIGINT and SIGTERM end it cleanly, and
// SIGPIPE is ignored, so that a write to a pipe whose reader went away (as
// in "sharecast listen ... | head -1") fails with EPIPE, which listen takes
// as the end of its output, rather than killing the process before it can
// write its summary.
func Main(args []string) int {
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, args, os.Stdin, os.Stdout, os.Stderr)
}
