// Command marketdata is a MoldUDP64 feed handler with A/B line
// arbitration and re-requests, a generator of such feeds, a re-request
// server ("marketdata rewind") and a SoupBinTCP server ("marketdata
// soup") of the feed it receives. See examples/marketdata in the README,
// or run it with -h.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/sharecast/sharecast/examples/marketdata/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "marketdata:", err)
		os.Exit(1)
	}
}
