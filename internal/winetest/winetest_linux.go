package winetest

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sharecast/sharecast/internal/testbed"
)

var (
	//go:embed testdata/bcryptprimitives.c
	dllSource []byte
	//go:embed testdata/bcryptprimitives.def
	dllDef []byte
)

// timeout bounds each step (a build, wineboot, a program's run).
const timeout = 5 * time.Minute

// Wine is a Wine prefix of a test's own, with the stand-in
// bcryptprimitives.dll in its system32, and the go build overlay that
// tolerates Wine's missing SIO_UDP_NETRESET. Its methods may be called
// from the test's goroutine only.
type Wine struct {
	wine    string   // the wine64 loader
	env     []string // WINEPREFIX and the rest, for every wine process
	overlay string   // the -overlay file for go build and go test -c
}

// New makes a Wine prefix in a directory of t's own and builds the shims
// into it (see the package doc), or skips t where Wine cannot run: wine64
// or x86_64-w64-mingw32-gcc missing, not amd64, CI set to true, or no test
// bed ([testbed.Require]). The wineserver is stopped when t ends.
func New(t testing.TB) *Wine {
	t.Helper()
	wine, err := exec.LookPath("wine64")
	if err != nil {
		wine = "/usr/lib/wine/wine64" // Debian's wine64 puts it there
	}
	gcc, gccErr := exec.LookPath("x86_64-w64-mingw32-gcc")
	if _, err := os.Stat(wine); err != nil || gccErr != nil {
		if os.Getenv("CI") == "true" {
			// .ci/apt-packages installs both: in CI a missing one is a
			// broken set-up, not a reason to skip.
			t.Fatal("CI: wine64 or x86_64-w64-mingw32-gcc is missing; .ci/apt-packages should have installed them")
		}
		t.Skip("needs wine64 and gcc-mingw-w64-x86-64 (apt-get install --no-install-recommends wine64 gcc-mingw-w64-x86-64-win32)")
	}
	if runtime.GOARCH != "amd64" {
		t.Skip("wine64 runs windows/amd64 programs on amd64")
	}
	testbed.Require(t)
	dir := t.TempDir()
	w := &Wine{wine: wine}

	// The stand-in DLL.
	for name, b := range map[string][]byte{"bcryptprimitives.c": dllSource, "bcryptprimitives.def": dllDef} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dll := filepath.Join(dir, "bcryptprimitives.dll")
	run(t, nil, gcc, "-shared", "-O2", "-o", dll, filepath.Join(dir, "bcryptprimitives.c"), filepath.Join(dir, "bcryptprimitives.def"), "-ladvapi32")

	// The overlay of net/fd_windows.go.
	goroot := strings.TrimSpace(run(t, nil, "go", "env", "GOROOT"))
	orig := filepath.Join(goroot, "src", "net", "fd_windows.go")
	src, err := os.ReadFile(orig)
	if err != nil {
		t.Fatal(err)
	}
	const check = "err = syscall.WSAIoctl(fd.pfd.Sysfd, windows.SIO_UDP_NETRESET, (*byte)(unsafe.Pointer(&flag)), size, nil, 0, &ret, nil, 0)\n\t\tif err != nil {"
	if !strings.Contains(string(src), check) {
		t.Fatalf("%s no longer has the SIO_UDP_NETRESET check that the overlay relaxes: update the shim", orig)
	}
	patched := strings.Replace(string(src), check,
		strings.TrimSuffix(check, "err != nil {")+"err != nil && err != syscall.Errno(10045) { // WSAEOPNOTSUPP under Wine 8.0: test-only overlay", 1)
	over := filepath.Join(dir, "fd_windows.go")
	if err := os.WriteFile(over, []byte(patched), 0o644); err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(map[string]map[string]string{"Replace": {orig: over}})
	w.overlay = filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(w.overlay, js, 0o644); err != nil {
		t.Fatal(err)
	}

	// The prefix, with the stand-in DLL.
	prefix := filepath.Join(dir, "prefix")
	// TMPDIR: Debian's wineserver makes its socket directory
	// (wine-XXXXXX/server-...) there, and would leave one in /tmp each run;
	// in the test's own directory it goes when the test ends.
	wtmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(wtmp, 0o700); err != nil {
		t.Fatal(err)
	}
	w.env = []string{"WINEPREFIX=" + prefix, "TMPDIR=" + wtmp, "WINEDEBUG=-all", "WINEDLLOVERRIDES=bcryptprimitives=n;mscoree,mshtml="}
	t.Cleanup(func() {
		cmd := exec.Command(filepath.Join(filepath.Dir(wine), "wineserver"), "-k")
		cmd.Env = append(os.Environ(), w.env...)
		_ = cmd.Run() // the server may have gone already
	})
	// A persistent wineserver of the prefix's own, started with no output
	// to hold: otherwise the first wine process starts one that inherits
	// its output and lingers after it, and a command whose output is a
	// pipe waits for it.
	if err := os.Mkdir(prefix, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, w.env, filepath.Join(filepath.Dir(wine), "wineserver"), "-p")
	w.Run(t, nil, "wineboot", "-i")
	b, err := os.ReadFile(dll)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(prefix, "drive_c", "windows", "system32", "bcryptprimitives.dll"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	return w
}

// Go runs the go command for windows/amd64 with the overlay, in the
// current directory: args[0] is the subcommand ("build", "test") and the
// rest follow -overlay, as in w.Go(t, "build", "-o", exe, "./cmd/x").
func (w *Wine) Go(t testing.TB, args ...string) {
	t.Helper()
	if len(args) == 0 {
		t.Fatal("winetest: Go needs a subcommand")
	}
	args = append([]string{args[0], "-overlay", w.overlay}, args[1:]...)
	run(t, []string{"GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0", "GOPROXY=off"}, "go", args...)
}

// Command returns a command that runs the Windows program exe with args
// under wine64 in w's prefix, in the current network namespace.
func (w *Wine) Command(ctx context.Context, exe string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, w.wine, append([]string{exe}, args...)...)
	cmd.Env = append(os.Environ(), w.env...)
	cmd.WaitDelay = 10 * time.Second // wineserver may hold the output open
	return cmd
}

// Run runs the Windows program exe with args under wine64, with env added
// to the environment, and returns its output (standard output and error);
// it fails t if the program fails.
func (w *Wine) Run(t testing.TB, env []string, exe string, args ...string) string {
	t.Helper()
	return run(t, slices.Concat(w.env, env), w.wine, append([]string{exe}, args...)...)
}

// run runs name with args and env added, and returns its output.
func run(t testing.TB, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	// The output goes to a file, not a pipe: a wineserver that the program
	// started inherits it and may run on for seconds after the program
	// exits (longer on a loaded machine), and a pipe would keep Wait
	// waiting for it. With a file, Wait returns when the program exits.
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	err = cmd.Run()
	out, rerr := os.ReadFile(f.Name())
	if err != nil || rerr != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), errors.Join(err, rerr), out)
	}
	return string(out)
}
