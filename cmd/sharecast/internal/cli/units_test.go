package cli

import (
	"math"
	"testing"
)

// Numbers with units parse as people type them, and everything else is
// refused in words.
func TestUnits(t *testing.T) {
	var r float64
	rate := &rateValue{v: &r, max: 10e6}
	for s, want := range map[string]float64{"0": 0, "1000": 1000, "10k": 10e3, "2.5k": 2500, "1M": 1e6, "1e6": 1e6, "10M": 10e6} {
		if err := rate.Set(s); err != nil || r != want {
			t.Errorf("--rate %s: %g, %v; want %g", s, r, err, want)
		}
	}
	for _, s := range []string{"NaN", "nan", "Inf", "-Inf", "+Inf", "-1", "20M", "1e300", "10 k/s", "k", "", "0x10"} {
		if err := rate.Set(s); err == nil {
			t.Errorf("--rate %q: accepted as %g", s, r)
		}
	}
	var z int
	size := &sizeValue{v: &z, max: math.MaxInt32}
	for s, want := range map[string]int{"0": 0, "1500": 1500, "1KiB": 1024, "1K": 1024, "4MiB": 4 << 20, "64M": 64 << 20, "1kB": 1000, "2MB": 2e6, "1GiB": 1 << 30} {
		if err := size.Set(s); err != nil || z != want {
			t.Errorf("--size %s: %d, %v; want %d", s, z, err, want)
		}
	}
	for _, s := range []string{"1.5B", "-1", "2GiB", "3000000000", "9223372036854775807", "1e12", "NaN", "4MB/s", "KiB"} {
		if err := size.Set(s); err == nil {
			t.Errorf("--size %q: accepted as %d", s, z)
		}
	}
	var c uint64
	count := &countValue{v: &c}
	for s, want := range map[string]uint64{"0": 0, "7": 7, "10k": 10_000, "1.5M": 1_500_000, "18446744073709551615": math.MaxUint64} {
		if err := count.Set(s); err != nil || c != want {
			t.Errorf("--count %s: %d, %v; want %d", s, c, err, want)
		}
	}
	for _, s := range []string{"-1", "1.5", "many", "1.0000001k", "NaN", "-1k", "1e30k"} {
		if err := count.Set(s); err == nil {
			t.Errorf("--count %q: accepted as %d", s, c)
		}
	}
	if plural(1, "datagram") != "1 datagram" || plural(0, "byte") != "0 bytes" {
		t.Error("plural")
	}
}
