package outfile_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/sharecast/sharecast/internal/outfile"
)

// A symbolic link at the path is refused and its target left alone; a new
// file is its owner's only; an existing one is truncated.
func TestCreate(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Skip(err)
	}
	if f, err := outfile.Create(link, 0); !errors.Is(err, outfile.ErrSymlink) {
		if f != nil {
			f.Close()
		}
		t.Errorf("Create(symlink): %v, want ErrSymlink", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "precious" {
		t.Errorf("the link's target was written: %q", b)
	}
	name := filepath.Join(dir, "new")
	f, err := outfile.Create(name, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("x")
	f.Close()
	if fi, err := os.Stat(name); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("new file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	f, err = outfile.Create(target, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if b, _ := os.ReadFile(target); len(b) != 0 {
		t.Errorf("an existing file is not truncated: %q", b)
	}
}
