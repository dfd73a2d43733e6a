// Command fanout is three tools that consume one multicast feed on the
// same host, group and port, each in its own process: record (to a pcap
// file), stats (rates, loss, gaps, latency) and forward (to a unix
// datagram socket or another group). Run it with -h, or see
// examples/fanout in the README.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/sharecast/sharecast/examples/fanout/internal/tools"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := tools.Run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fanout:", err)
		os.Exit(1)
	}
}
