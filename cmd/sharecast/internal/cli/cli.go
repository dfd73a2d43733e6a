package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// Exit codes of Run.
const (
	ExitOK      = 0 // success, also after SIGINT or SIGTERM
	ExitFailure = 1 // the command was right but failed at run time
	ExitUsage   = 2 // the command line is wrong
)

// usageError is an error in the command line: a bad flag, argument or
// group spec, or an interface that does not exist. Run exits with
// ExitUsage and shows the usage line.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usagef returns a usage error.
func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// runError marks an error that a subcommand returned while running (exit
// 1), as opposed to one from parsing the command line.
type runError struct{ err error }

func (e *runError) Error() string { return e.err.Error() }
func (e *runError) Unwrap() error { return e.err }

// exitError makes Run exit with a status that a subcommand chose and has
// explained already (the demo's child's status).
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// env is what every subcommand gets: its streams and the logger.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	log            zerolog.Logger
	// outFailed is closed when a write to stdout fails: a command that
	// writes as it goes stops then.
	outFailed <-chan struct{}

	logLevel, logFormat string
}

// Run runs the sharecast command line args (without the program name) and
// returns the process's exit status: ExitOK, ExitFailure or ExitUsage. It
// returns when the command is done or ctx ends (SIGINT, SIGTERM), which is
// a clean exit. It touches no global state, so that tests may call it
// in parallel.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	out := newOutWriter(stdout)
	e := &env{stdin: stdin, stdout: out, stderr: stderr, outFailed: out.failed}
	root := newRoot(e)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(out)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if werr := out.error(); err == nil && werr != nil {
		// A subcommand that wrote its output and did not check: the
		// output is lost, and that is a failure, but for a reader that
		// went away (| head), which ends a filter cleanly.
		if errors.Is(werr, syscall.EPIPE) {
			return ExitOK
		}
		if cmd == nil {
			cmd = root
		}
		fmt.Fprintf(stderr, "%s: writing to standard output: %s\n", cmd.CommandPath(), oneLine(werr))
		return ExitFailure
	}
	if err == nil {
		return ExitOK
	}
	if cmd == nil {
		cmd = root
	}
	var ue *usageError
	var re *runError
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue), !errors.As(err, &re):
		// Errors that no RunE returned come from cobra's parsing.
		fmt.Fprintf(stderr, "%s: %s\n", cmd.CommandPath(), oneLine(err))
		fmt.Fprintf(stderr, "Usage: %s\nRun '%s --help' for more, with examples.\n", cmd.UseLine(), cmd.CommandPath())
		return ExitUsage
	case errors.Is(err, context.Canceled):
		return ExitOK
	default:
		fmt.Fprintf(stderr, "%s: %s\n", cmd.CommandPath(), oneLine(err))
		return ExitFailure
	}
}

// oneLine flattens an error message to one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "sharecast",
		Short: "Receive, send and inspect UDP multicast on shared ports",
		Long: `sharecast receives, sends and inspects UDP multicast where many receivers
share one group, interface and port.

Group specs, as for every subcommand that takes GROUP:
  239.1.2.3:5000              any-source group (IGMP)
  [ff15::1]:5000              IPv6 group (MLD)
  232.1.1.1:5000@10.0.0.1     source-specific group and its source
  239.1.2.3:5000%eth0         on interface eth0 (%2 by index, %10.0.0.1 by address, %* every one)

Exit status: 0 success (also after Ctrl-C or SIGTERM), 1 a run-time error
(a port held by another socket, no rights, a network error), 2 a usage error
(a bad flag or argument, a bad group spec, an interface that does not exist).`,
		Example: `  sharecast demo                                   # try it, in a private network namespace
  sharecast listen 239.1.2.3:5000                  # print each datagram
  sharecast send 239.1.2.3:5000 --rate 1000        # send test traffic on lo
  sharecast stat 239.1.2.3:5000                    # loss, gaps, latency per group
  sharecast ports 5000                             # who holds UDP port 5000
  sharecast doctor 239.1.2.3:5000                  # why a feed does not arrive, and the fix
  sharecast matrix                                 # what this OS does with two binds on a port
  source <(sharecast completion bash)              # complete subcommands and flags in bash (also zsh, fish, powershell)`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Version:       version(),
		Args:          cobra.NoArgs,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return e.setupLogger()
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&e.logLevel, "log-level", "info", "log level: debug, info, warn, error or disabled")
	pf.StringVar(&e.logFormat, "log-format", "", "log format: console or json (default console on a terminal, json otherwise)")
	root.SetVersionTemplate("sharecast {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	root.AddCommand(
		newListenCmd(e),
		newSendCmd(e),
		newStatCmd(e),
		newPortsCmd(e),
		newDoctorCmd(e),
		newMatrixCmd(e),
		newDemoCmd(e),
		newHubCmd(e),
		newMatrixChildCmd(e),
		newDemoReceiverCmd(e),
		newRelayCmd(e),
	)
	return root
}

// runE adapts a subcommand's function so that its errors exit 1 (unless
// they are usage errors) and a cancelled context is a clean exit.
func runE(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := fn(cmd, args)
		if err == nil || errors.Is(err, context.Canceled) && cmd.Context().Err() != nil {
			return nil
		}
		var ue *usageError
		if errors.As(err, &ue) {
			return err
		}
		return &runError{err}
	}
}

func (e *env) setupLogger() error {
	lvl := zerolog.InfoLevel
	if e.logLevel != "" {
		l, err := zerolog.ParseLevel(strings.ToLower(e.logLevel))
		if err != nil || l == zerolog.NoLevel {
			return usagef("invalid argument %q for \"--log-level\" flag: want debug, info, warn, error or disabled", e.logLevel)
		}
		lvl = l
	}
	var w io.Writer
	switch e.logFormat {
	case "":
		w = e.stderr
		if isTerminal(e.stderr) {
			w = zerolog.ConsoleWriter{Out: e.stderr, TimeFormat: "15:04:05.000"}
		}
	case "json":
		w = e.stderr
	case "console":
		w = zerolog.ConsoleWriter{Out: e.stderr, TimeFormat: "15:04:05.000", NoColor: !isTerminal(e.stderr)}
	default:
		return usagef("invalid argument %q for \"--log-format\" flag: want console or json", e.logFormat)
	}
	e.log = zerolog.New(w).Level(lvl).With().Timestamp().Logger()
	return nil
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w any) bool {
	if o, ok := w.(*outWriter); ok {
		w = o.w
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// version says which build this is, from the build information that the Go
// toolchain records: the module's version (a tag, or "(devel)" for a build
// from a work tree), the VCS revision and whether the tree was modified,
// and the Go version.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown version)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = ", modified"
			}
		}
	}
	if rev != "" {
		v += " (" + rev + modified + ")"
	}
	return v + " " + bi.GoVersion + " " + runtime.GOOS + "/" + runtime.GOARCH
}

// outWriter is standard output with its first write error kept, so that no
// subcommand loses output silently: Run fails the command when a write
// failed, and closes failed at once so that a command that writes as it
// goes can stop.
type outWriter struct {
	w      io.Writer
	mu     sync.Mutex
	err    error
	failed chan struct{}
}

func newOutWriter(w io.Writer) *outWriter { return &outWriter{w: w, failed: make(chan struct{})} }

func (o *outWriter) Write(p []byte) (int, error) {
	n, err := o.w.Write(p)
	if err != nil {
		o.mu.Lock()
		if o.err == nil {
			o.err = err
			close(o.failed)
		}
		o.mu.Unlock()
	}
	return n, err
}

// error returns the first write error, or nil.
func (o *outWriter) error() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

// termWidth returns the width of the terminal that w is, in columns, or 0
// where it cannot tell.
func termWidth(w any) int {
	if o, ok := w.(*outWriter); ok {
		w = o.w
	}
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	cols, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return cols
}
