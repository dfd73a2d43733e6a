package modcheck

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const (
	// maxModules is how many modules `go list -m all` may list for the
	// consumer, itself included.
	maxModules = 20
	// maxGo is the newest go line that the consumer's go.mod may get.
	maxGo = "1.26.0"
)

const consumerMain = `package main

import (
	"context"
	"fmt"

	"github.com/sharecast/sharecast/dispatch"
	"github.com/sharecast/sharecast/group"
	"github.com/sharecast/sharecast/mcast"
)

func main() {
	var mux dispatch.Mux
	mux.HandleFunc(dispatch.Pattern{}, func(context.Context, *dispatch.Datagram) {}, nil)
	fmt.Println(group.MustParseSpec("239.1.2.3:5000"), mcast.ShareAnyUser)
}
`

func TestConsumerModule(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "go.mod")); err != nil || !strings.HasPrefix(string(b), "module github.com/sharecast/sharecast\n") {
		t.Fatalf("%s is not the library's root module: %v", root, err)
	}
	dir := t.TempDir()
	write := func(name, s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The oldest go line a user may start from: tidy raises it to what
	// the library needs, and no further.
	write("go.mod", "module example.com/consumer\n\ngo 1.22\n\nrequire github.com/sharecast/sharecast v0.0.0\n\nreplace github.com/sharecast/sharecast => "+root+"\n")
	write("main.go", consumerMain)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(goBin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return string(out)
	}
	run("mod", "tidy")
	run("build", "./...")

	mods := strings.Fields(run("list", "-m", "-f", "{{.Path}}", "all"))
	t.Logf("%d modules: %s", len(mods), strings.Join(mods, " "))
	if len(mods) > maxModules {
		t.Errorf("a module that imports mcast, group and dispatch has %d modules in its graph, want at most %d:\n%s", len(mods), maxModules, strings.Join(mods, "\n"))
	}
	for _, m := range mods {
		for _, banned := range []string{"cobra", "prometheus", "gonum", "miekg", "HdrHistogram", "protobuf"} {
			if strings.Contains(m, banned) {
				t.Errorf("the library's graph holds %s, which only the CLI, the examples or the bench need", m)
			}
		}
	}

	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	var goLine string
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "go "); ok {
			goLine = strings.TrimSpace(v)
		}
	}
	if goLine == "" {
		t.Fatalf("the consumer's go.mod has no go line after tidy:\n%s", b)
	}
	t.Logf("go line after tidy: %s", goLine)
	if gover(goLine) > gover(maxGo) {
		t.Errorf("go mod tidy raised the consumer's go line to %s, want at most %s:\n%s", goLine, maxGo, b)
	}
}

// gover maps a go line "1.X[.Y]" to a comparable number.
func gover(v string) int {
	var n [3]int
	for i, p := range strings.SplitN(v, ".", 3) {
		for _, c := range p {
			if c < '0' || c > '9' {
				break
			}
			n[i] = n[i]*10 + int(c-'0')
		}
	}
	return n[0]*1_000_000 + n[1]*1_000 + n[2]
}
