package tools_test

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/sharecast/sharecast/examples/fanout/internal/tools"
	"github.com/sharecast/sharecast/internal/testbed"
)

// The tools run as processes of the test binary (testbed.Command), in the
// test's network namespace.
func init() {
	for _, name := range []string{"record", "stats", "forward"} {
		testbed.Register(name, func(args []string) int {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := tools.Run(ctx, append([]string{name}, args...), os.Stdout, os.Stderr); err != nil {
				os.Stderr.WriteString("fanout: " + err.Error() + "\n")
				return 1
			}
			return 0
		})
	}
}

func TestMain(m *testing.M) { testbed.Main(m) }
