package harness

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/sharecast/sharecast/internal/netns"
)

const (
	envRole   = "SHARECAST_BENCH_ROLE"   // "recv": run as a receiver process
	envInside = "SHARECAST_BENCH_INSIDE" // set in the re-executed harness, inside its namespace
)

// Main is the harness's command: it parses args, re-executes itself in a
// private network namespace, sets up lo there, runs the sweep and writes
// its files; cSource is the C reference receiver's source. Started as a receiver (by the harness itself) it runs
// RecvMain instead. It returns the exit status.
func Main(ctx context.Context, args []string, cSource []byte, stdout, stderr io.Writer) int {
	if os.Getenv(envRole) == "recv" {
		return RecvMain(args)
	}
	cfg, err := ParseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 2
	}
	if cfg.Replot != "" {
		if err := Replot(cfg.Replot, cfg); err != nil {
			fmt.Fprintf(stderr, "bench: %v\n", err)
			return 1
		}
		return 0
	}
	if os.Getenv(envInside) == "" {
		cmd, err := netns.Command(args...)
		if err != nil {
			fmt.Fprintf(stderr, "bench: %v\n", err)
			return 1
		}
		cmd.Env = append(cmd.Env, envInside+"=1")
		code, err := netns.ExitCode(cmd)
		if err != nil {
			fmt.Fprintf(stderr, "bench: %v (needs %s)\n", err, netns.Requirement)
			return 1
		}
		return code
	}
	if err := netns.SetupLoopback(); err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	cfg.Spawn = func(args []string) (*exec.Cmd, error) {
		cmd := exec.Command(exe, args...)
		cmd.Env = append(os.Environ(), envRole+"=recv")
		return cmd, nil
	}
	cfg.Log = stdout
	cfg.CSource = cSource
	cfg.Command = strings.TrimSpace("go run ./bench " + strings.Join(args, " "))
	rep, err := Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	if problems := Check(rep); len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintf(stderr, "bench: check: %s\n", p)
		}
		if cfg.Quick {
			return 1
		}
	}
	fmt.Fprintf(stdout, "done in %v\n", time.Duration(rep.Elapsed).Round(time.Millisecond))
	return 0
}
