package mcast

import (
	"errors"
	"slices"
	"testing"
)

// The per-OS option tables, checked on every OS's data whatever OS runs
// the test.
func TestOptionTables(t *testing.T) {
	type want struct {
		goos  string
		share Share
		ids   []optID // the reuse options, in order
		err   error
	}
	for _, w := range []want{
		{"linux", ShareAnyUser, []optID{optReuseAddr}, nil},
		{"linux", ShareSameUser, []optID{optReusePort}, nil},
		{"linux", ShareExclusive, nil, nil},
		{"darwin", ShareAnyUser, []optID{optReuseAddr, optReusePort}, nil},
		{"darwin", ShareSameUser, nil, ErrNotSupported},
		{"darwin", ShareExclusive, nil, nil},
		{"freebsd", ShareAnyUser, []optID{optReuseAddr, optReusePort}, nil},
		{"freebsd", ShareSameUser, nil, ErrNotSupported},
		{"freebsd", ShareExclusive, nil, nil},
		{"windows", ShareAnyUser, []optID{optReuseAddr}, nil},
		{"windows", ShareSameUser, nil, ErrNotSupported},
		{"windows", ShareExclusive, []optID{optExclusiveAddrUse}, nil},
		{"plan9", ShareAnyUser, nil, ErrNotSupported},
	} {
		for _, v6 := range []bool{false, true} {
			opts, err := options(w.goos, w.share, v6)
			if !errors.Is(err, w.err) {
				t.Errorf("%s %s v6=%v: error %v, want %v", w.goos, w.share, v6, err, w.err)
				continue
			}
			if err != nil {
				continue
			}
			var reuse []optID
			for _, o := range opts {
				switch o.id {
				case optReuseAddr, optReusePort, optExclusiveAddrUse:
					if o.value != 1 || !o.required {
						t.Errorf("%s %s: %s=%d required=%v", w.goos, w.share, o.id, o.value, o.required)
					}
					reuse = append(reuse, o.id)
				}
			}
			if !slices.Equal(reuse, w.ids) {
				t.Errorf("%s %s v6=%v: reuse options %v, want %v", w.goos, w.share, v6, reuse, w.ids)
			}
		}
	}
	// Linux receivers turn IP_MULTICAST_ALL off (required) and ask for the
	// destination address (required: the destination check needs it).
	opts, _ := options("linux", ShareAnyUser, false)
	if !slices.Contains(opts, sockopt{optMulticastAll4, 0, true}) || !slices.Contains(opts, sockopt{optPktInfo4, 1, true}) {
		t.Errorf("linux IPv4 options %v lack IP_MULTICAST_ALL=0 or IP_PKTINFO", opts)
	}
	opts, _ = options("linux", ShareAnyUser, true)
	if !slices.Contains(opts, sockopt{optMulticastAll6, 0, false}) || !slices.Contains(opts, sockopt{optPktInfo6, 1, true}) {
		t.Errorf("linux IPv6 options %v lack IPV6_MULTICAST_ALL=0 or IPV6_RECVPKTINFO", opts)
	}
	for goos, tb := range tables {
		if tb.rcvbufScale < 1 {
			t.Errorf("%s: rcvbufScale %d", goos, tb.rcvbufScale)
		}
	}
}

// SO_EXCLUSIVEADDRUSE is ((int)(~SO_REUSEADDR)) in the Windows SDK, with
// SO_REUSEADDR = 4: -5, or 0xfffffffb as an unsigned 32-bit value.
func TestWindowsExclusiveAddrUseValue(t *testing.T) {
	const sdkReuseAddr = 0x0004
	if got := ^sdkReuseAddr; got != -5 || uint32(int32(got)) != 0xfffffffb {
		t.Fatalf("~SO_REUSEADDR = %d", got)
	}
	if windowsExclusiveAddrUse != -5 {
		t.Fatalf("windowsExclusiveAddrUse = %d, want -5", windowsExclusiveAddrUse)
	}
}

func TestShareText(t *testing.T) {
	for _, s := range []Share{ShareAnyUser, ShareSameUser, ShareExclusive} {
		b, _ := s.MarshalText()
		var got Share
		if err := got.UnmarshalText(b); err != nil || got != s {
			t.Errorf("%v: round trip %v, %v", s, got, err)
		}
	}
	if _, err := ParseShare("everyone"); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("ParseShare(everyone): %v", err)
	}
}

// ShareExclusive is not exclusive on the BSDs and macOS (exclusiveGapBSD,
// from the kernels' in_pcbbind): Listen warns there, and only there, and
// only for that mode.
func TestExclusiveWarning(t *testing.T) {
	for _, goos := range []string{"darwin", "freebsd", "netbsd", "openbsd"} {
		if w := exclusiveWarning(goos, ShareExclusive); w != exclusiveGapBSD {
			t.Errorf("%s exclusive: warning %q", goos, w)
		}
		if w := exclusiveWarning(goos, ShareAnyUser); w != "" {
			t.Errorf("%s any: warning %q", goos, w)
		}
	}
	for _, goos := range []string{"linux", "windows", "plan9"} {
		if w := exclusiveWarning(goos, ShareExclusive); w != "" {
			t.Errorf("%s exclusive: warning %q", goos, w)
		}
	}
}
