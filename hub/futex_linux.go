package hub

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Non-private futex operations: the word is in memory that several
// processes map (MAP_SHARED), so the kernel keys it by file and offset.
const (
	futexWait = 0 // FUTEX_WAIT
	futexWake = 1 // FUTEX_WAKE
)

// futexWakeAll wakes every thread, in any process, that sleeps on word.
func futexWakeAll(word *uint32) {
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(word)), futexWake, uintptr(1<<31-1), 0, 0, 0)
}

// futexSleep sleeps while *word == val, for at most d (which is > 0); it
// returns early on a wake, a signal or a changed word.
func futexSleep(word *uint32, val uint32, d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(word)), futexWait, uintptr(val), uintptr(unsafe.Pointer(&ts)), 0, 0)
}
