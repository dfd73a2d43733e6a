package cli

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Flag values with units, as people type them: --rate 10k, --size 1KiB,
// --rcvbuf 4MiB, --count 1M. Each is a pflag.Value whose Set says what was
// wrong in words, not strconv's.

// rateValue is a rate in datagrams a second: a number (1000, 2.5e3) with an
// optional decimal suffix k, M or G (10k = 10,000). NaN, infinities and
// negative rates are refused, and so is anything above max.
type rateValue struct {
	v   *float64
	max float64
}

func (r *rateValue) String() string { return strconv.FormatFloat(*r.v, 'g', -1, 64) }
func (r *rateValue) Type() string   { return "rate" }

func (r *rateValue) Set(s string) error {
	num, mult := cutSuffix(s, map[string]float64{"k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9})
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return errors.New("not a rate: want datagrams a second, such as 1000, 2.5k or 1M")
	}
	f *= mult
	if f < 0 || f > r.max {
		return fmt.Errorf("out of range: want 0 to %s datagrams a second", humanCount(r.max))
	}
	*r.v = f
	return nil
}

// sizeValue is a size in bytes: a whole number with an optional suffix,
// binary (KiB, MiB, GiB, and K, M, G alone) or decimal (kB, MB, GB), from
// min to max.
type sizeValue struct {
	v        *int
	min, max int64
	why      string // why max is the limit, said with an error
}

func (z *sizeValue) String() string { return strconv.Itoa(*z.v) }
func (z *sizeValue) Type() string   { return "bytes" }

func (z *sizeValue) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	if n < z.min || n > z.max {
		return fmt.Errorf("out of range: want %d to %d bytes%s", z.min, z.max, z.why)
	}
	*z.v = int(n)
	return nil
}

// parseSize reads a size in bytes with an optional unit.
func parseSize(s string) (int64, error) {
	num, mult := cutSuffix(s, map[string]float64{
		"B": 1, "K": 1 << 10, "KiB": 1 << 10, "M": 1 << 20, "MiB": 1 << 20, "G": 1 << 30, "GiB": 1 << 30,
		"kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9,
	})
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || strings.ContainsAny(num, "xXpP") {
		return 0, errors.New("not a size: want bytes, such as 1500, 64KiB or 4MiB")
	}
	f *= mult
	if f != math.Trunc(f) || f < math.MinInt64 || f > math.MaxInt64 {
		return 0, errors.New("not a whole number of bytes")
	}
	return int64(f), nil
}

// countValue is a count: a whole number, 0 or more, with an optional
// decimal suffix k, M or G.
type countValue struct{ v *uint64 }

func (c *countValue) String() string { return strconv.FormatUint(*c.v, 10) }
func (c *countValue) Type() string   { return "count" }

func (c *countValue) Set(s string) error {
	num, mult := cutSuffix(s, map[string]float64{"k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9})
	if mult == 1 {
		n, err := strconv.ParseUint(num, 10, 64)
		if err != nil {
			return errors.New("not a count: want a whole number, 0 or more, such as 100, 10k or 1M")
		}
		*c.v = n
		return nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || f*mult != math.Trunc(f*mult) || f*mult >= math.MaxUint64 || math.IsNaN(f) {
		return errors.New("not a count: want a whole number, 0 or more, such as 100, 10k or 1M")
	}
	*c.v = uint64(f * mult)
	return nil
}

// cutSuffix splits a unit suffix off s, the longest that matches, and
// returns the number's text and the unit's multiplier (1 without one).
func cutSuffix(s string, units map[string]float64) (string, float64) {
	best, mult := "", 1.0
	for u, m := range units {
		if len(u) > len(best) && strings.HasSuffix(s, u) && len(s) > len(u) {
			best, mult = u, m
		}
	}
	return strings.TrimSpace(strings.TrimSuffix(s, best)), mult
}

// humanCount writes n with a decimal suffix where it is round: 10000000 as
// 10M.
func humanCount(n float64) string {
	for _, u := range []struct {
		s string
		m float64
	}{{"G", 1e9}, {"M", 1e6}, {"k", 1e3}} {
		if n >= u.m && n/u.m == math.Trunc(n/u.m) {
			return strconv.FormatFloat(n/u.m, 'f', -1, 64) + u.s
		}
	}
	return strconv.FormatFloat(n, 'f', -1, 64)
}

// plural writes n and the word, with an s unless n is 1.
func plural(n uint64, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.FormatUint(n, 10) + " " + word + "s"
}
