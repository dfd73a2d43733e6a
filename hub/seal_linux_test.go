package hub

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// A ring's memfd, once sealed, can be mapped read-only only and written by
// no one but through the hub's mapping; its size is fixed.
func TestRingSealed(t *testing.T) {
	fd, mem, err := newMemfd("test-ring", ringSize(16, 128), true)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	defer unix.Munmap(mem)
	if err := sealWrites(fd); err != nil {
		t.Fatal(err)
	}
	mem[ringHeader] = 1 // the hub's own mapping still writes
	if _, err := unix.Pwrite(fd, []byte{1}, ringHeader); !errors.Is(err, unix.EPERM) {
		t.Errorf("pwrite to the sealed ring: %v, want EPERM", err)
	}
	if m, err := unix.Mmap(fd, 0, ringSize(16, 128), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); !errors.Is(err, unix.EPERM) {
		if err == nil {
			unix.Munmap(m)
		}
		t.Errorf("writable mapping of the sealed ring: %v, want EPERM", err)
	}
	ro, err := unix.Mmap(fd, 0, ringSize(16, 128), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatalf("read-only mapping: %v", err)
	}
	defer unix.Munmap(ro)
	if ro[ringHeader] != 1 {
		t.Error("the read-only mapping does not see the hub's write")
	}
	if err := unix.Ftruncate(fd, 1); !errors.Is(err, unix.EPERM) {
		t.Errorf("shrinking the ring: %v, want EPERM", err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_WRITE); !errors.Is(err, unix.EPERM) {
		t.Errorf("adding a seal: %v, want EPERM", err)
	}
}
