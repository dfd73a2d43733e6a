//go:build !linux

package harness

import (
	"context"
	"fmt"
	"io"
	"runtime"
)

// Main reports that the harness needs Linux (network namespaces,
// recvmmsg and sendmmsg) and returns 1.
func Main(ctx context.Context, args []string, cSource []byte, stdout, stderr io.Writer) int {
	fmt.Fprintf(stderr, "bench: the harness runs on Linux only, not %s\n", runtime.GOOS)
	return 1
}
