// Command sharecast receives, sends and inspects UDP multicast where many
// receivers share one group, interface and port. Run "sharecast --help".
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/sharecast/sharecast/cmd/sharecast/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
