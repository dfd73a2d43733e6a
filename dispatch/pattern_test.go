package dispatch_test

import (
	"encoding/json"
	"errors"
	"net/netip"
	"testing"

	"github.com/sharecast/sharecast/dispatch"
)

func TestParsePattern(t *testing.T) {
	a := netip.MustParseAddr
	for _, c := range []struct {
		in   string
		want dispatch.Pattern
		str  string // String(), if not in
	}{
		{"*", dispatch.Pattern{}, ""},
		{"", dispatch.Pattern{}, "*"},
		{"239.1.2.3", dispatch.Pattern{Group: a("239.1.2.3")}, ""},
		{"239.1.2.3:5000", dispatch.Pattern{Group: a("239.1.2.3"), Port: 5000}, ""},
		{"*:5000", dispatch.Pattern{Port: 5000}, ""},
		{":5000", dispatch.Pattern{Port: 5000}, "*:5000"},
		{"239.1.2.3@10.0.0.1", dispatch.Pattern{Group: a("239.1.2.3"), Source: a("10.0.0.1")}, ""},
		{"239.1.2.3:5000@10.0.0.1", dispatch.Pattern{Group: a("239.1.2.3"), Port: 5000, Source: a("10.0.0.1")}, ""},
		{"*@10.0.0.1", dispatch.Pattern{Source: a("10.0.0.1")}, ""},
		{"ff3e::1", dispatch.Pattern{Group: a("ff3e::1")}, ""},
		{"[ff3e::1]", dispatch.Pattern{Group: a("ff3e::1")}, "ff3e::1"},
		{"[ff3e::1]:5000@2001:db8::1", dispatch.Pattern{Group: a("ff3e::1"), Port: 5000, Source: a("2001:db8::1")}, ""},
		{"[::ffff:239.1.2.3]:5000", dispatch.Pattern{Group: a("239.1.2.3"), Port: 5000}, "239.1.2.3:5000"},
	} {
		got, err := dispatch.ParsePattern(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParsePattern(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
			continue
		}
		str := c.str
		if str == "" {
			str = c.in
		}
		if got.String() != str {
			t.Errorf("%+v.String() = %q, want %q", got, got.String(), str)
		}
	}
	for _, in := range []string{"239.1.2.3:0", "239.1.2.3:65536", "239.1.2.3:x", "[239.1.2.3]:5000", "[ff3e::1", "[ff3e::1]x",
		"nonsense", "239.1.2.3@", "239.1.2.3@x", "fe80::1%eth0", "1.2.3.4:5:6"} {
		if p, err := dispatch.ParsePattern(in); !errors.Is(err, dispatch.ErrInvalidConfig) {
			t.Errorf("ParsePattern(%q) = %+v, %v; want ErrInvalidConfig", in, p, err)
		}
	}
}

func TestPatternJSON(t *testing.T) {
	in := dispatch.HandlerStats{Pattern: dispatch.Pattern{Group: group1, Port: 5000}, Overflow: dispatch.Block}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out dispatch.HandlerStats
	if err := json.Unmarshal(b, &out); err != nil || out.Pattern != in.Pattern || out.Overflow != in.Overflow {
		t.Errorf("round trip of %s: %+v, %v", b, out, err)
	}
}

func TestParseOverflow(t *testing.T) {
	for _, o := range []dispatch.Overflow{dispatch.DropNewest, dispatch.DropOldest, dispatch.Block} {
		if got, err := dispatch.ParseOverflow(o.String()); err != nil || got != o {
			t.Errorf("ParseOverflow(%q) = %v, %v", o.String(), got, err)
		}
	}
	if _, err := dispatch.ParseOverflow("sometimes"); !errors.Is(err, dispatch.ErrInvalidConfig) {
		t.Errorf("ParseOverflow(sometimes) = %v", err)
	}
}

// FuzzParsePattern checks that whatever parses prints as something that
// parses back to the same pattern.
func FuzzParsePattern(f *testing.F) {
	for _, s := range []string{"*", "239.1.2.3:5000@10.0.0.1", "[ff3e::1]:5000@2001:db8::1", "*:1", "[::ffff:1.2.3.4]", "@", "[", ":"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := dispatch.ParsePattern(s)
		if err != nil {
			return
		}
		q, err := dispatch.ParsePattern(p.String())
		if err != nil || q != p {
			t.Fatalf("ParsePattern(%q) = %+v, printed %q, parsed back as %+v, %v", s, p, p.String(), q, err)
		}
	})
}
