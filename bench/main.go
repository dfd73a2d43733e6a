// Command bench is sharecast's benchmark harness: per-socket multicast
// delivery of sharecast, mcast alone, the standard library and a C
// recvmmsg receiver, measured side by side in a private network namespace.
// See bench/RESULTS.md for what it measures and the latest figures, and
// `go run ./bench -h` for its flags.
package main

import (
	"context"
	_ "embed"
	"os"
	"os/signal"
	"syscall"

	"github.com/sharecast/sharecast/bench/internal/harness"
)

// cSource is the reference receiver, built by the harness with the C
// compiler at run time.
//
//go:embed cref/recv.c
var cSource []byte

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := harness.Main(ctx, os.Args[1:], cSource, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
