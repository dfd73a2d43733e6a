package group_test

import (
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/sharecast/sharecast/group"
)

func TestParseSpecGood(t *testing.T) {
	a := netip.MustParseAddr
	for _, tc := range []struct {
		in    string
		want  group.Spec
		canon string // String() of the result; "" means in
	}{
		{"239.1.2.3:5000", group.Spec{Group: a("239.1.2.3"), Port: 5000}, ""},
		{"[ff15::1]:5000", group.Spec{Group: a("ff15::1"), Port: 5000}, ""},
		{"232.1.1.1:5000@10.0.0.1", group.Spec{Group: a("232.1.1.1"), Port: 5000, Source: a("10.0.0.1")}, ""},
		{"[ff3e::8000:1]:5000@2001:db8::1", group.Spec{Group: a("ff3e::8000:1"), Port: 5000, Source: a("2001:db8::1")}, ""},
		{"[ff3e::8000:1]:5000@[2001:db8::1]", group.Spec{Group: a("ff3e::8000:1"), Port: 5000, Source: a("2001:db8::1")}, "[ff3e::8000:1]:5000@2001:db8::1"},
		{"239.1.2.3:5000%eth0", group.Spec{Group: a("239.1.2.3"), Port: 5000, Interface: "eth0"}, ""},
		{"239.1.2.3:5000%2", group.Spec{Group: a("239.1.2.3"), Port: 5000, Interface: "2"}, ""},
		{"239.1.2.3:5000%10.0.0.1", group.Spec{Group: a("239.1.2.3"), Port: 5000, Interface: "10.0.0.1"}, ""},
		{"239.1.2.3:5000%*", group.Spec{Group: a("239.1.2.3"), Port: 5000, Interface: "*"}, ""},
		{"232.1.1.1:5000@10.0.0.1%eth0", group.Spec{Group: a("232.1.1.1"), Port: 5000, Source: a("10.0.0.1"), Interface: "eth0"}, ""},
		{"[ff3e::1]:5000@2001:db8::1%eth0", group.Spec{Group: a("ff3e::1"), Port: 5000, Source: a("2001:db8::1"), Interface: "eth0"}, ""},
		{"[ff15::1]:5000%fe80::1", group.Spec{Group: a("ff15::1"), Port: 5000, Interface: "fe80::1"}, ""},
		{"[ff15::1]:5000%Ethernet 2", group.Spec{Group: a("ff15::1"), Port: 5000, Interface: "Ethernet 2"}, ""},
		{"239.1.2.3:5000%we@ird%name", group.Spec{Group: a("239.1.2.3"), Port: 5000, Interface: "we@ird%name"}, ""},
		{"239.1.2.3:1", group.Spec{Group: a("239.1.2.3"), Port: 1}, ""},
		{"239.1.2.3:65535", group.Spec{Group: a("239.1.2.3"), Port: 65535}, ""},
		{"239.1.2.3:05000", group.Spec{Group: a("239.1.2.3"), Port: 5000}, "239.1.2.3:5000"},
		{"[239.1.2.3]:5000", group.Spec{Group: a("239.1.2.3"), Port: 5000}, "239.1.2.3:5000"},
		{"[::ffff:239.1.2.3]:5000", group.Spec{Group: a("239.1.2.3"), Port: 5000}, "239.1.2.3:5000"},
		{"224.0.0.251:5353", group.Spec{Group: a("224.0.0.251"), Port: 5353}, ""},
		{"[FF02::FB]:5353%lo", group.Spec{Group: a("ff02::fb"), Port: 5353, Interface: "lo"}, "[ff02::fb]:5353%lo"},
	} {
		got, err := group.ParseSpec(tc.in)
		if err != nil {
			t.Errorf("ParseSpec(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseSpec(%q) = %#v, want %#v", tc.in, got, tc.want)
		}
		canon := tc.canon
		if canon == "" {
			canon = tc.in
		}
		if s := got.String(); s != canon {
			t.Errorf("ParseSpec(%q).String() = %q, want %q", tc.in, s, canon)
		}
		if again, err := group.ParseSpec(got.String()); err != nil || again != got {
			t.Errorf("round trip of %q: %#v, %v", tc.in, again, err)
		}
	}
}

func TestParseSpecBad(t *testing.T) {
	for _, tc := range []struct {
		in, part, msg string
	}{
		{"", "spec", `group: spec "": spec: empty`},
		{"239.1.2.3", "port", `group: spec "239.1.2.3": port: missing; write group:port`},
		{"239.1.2.3:", "port", `port: missing`},
		{"239.1.2.3:0", "port", `port "0": out of range 1-65535`},
		{"239.1.2.3:65536", "port", `port "65536": out of range 1-65535`},
		{"239.1.2.3:99999999999999999999", "port", `out of range 1-65535`},
		{"239.1.2.3:+80", "port", `port "+80": not a decimal number`},
		{"239.1.2.3:http", "port", `port "http": not a decimal number`},
		{"10.0.0.1:5000", "group", `group "10.0.0.1": not a multicast address`},
		{"ff15::1:5000", "group", `group "ff15::1:5000": an IPv6 group goes in brackets`},
		{"[ff15::1:5000", "group", `group "[ff15::1:5000": missing ']'`},
		{"[ff15::1%eth0]:5000", "group", `an IPv6 zone is not allowed`},
		{"[fe80::1]:5000", "group", `not a multicast address`},
		{"[]:5000", "group", `group: missing`},
		{":5000", "group", `group: missing`},
		{"example.com:5000", "group", `group "example.com": not an IP address`},
		{"239.1.2.3:5000@10.0.0.1", "source", `source "10.0.0.1": an any-source group takes no source`},
		{"232.1.1.1:5000", "group", `group "232.1.1.1": a source-specific group needs its source`},
		{"[ff3e::1]:5000", "group", `a source-specific group needs its source`},
		{"232.1.1.1:5000@", "source", `source: missing after '@'`},
		{"232.1.1.1:5000@2001:db8::1", "source", `not of the group's address family`},
		{"232.1.1.1:5000@239.1.1.1", "source", `not a unicast address`},
		{"232.1.1.1:5000@0.0.0.0", "source", `not a unicast address`},
		{"232.1.1.1:5000@255.255.255.255", "source", `not a unicast address`},
		{"232.1.1.1:5000@nope", "source", `source "nope": not an IP address`},
		{"[ff3e::1]:5000@[2001:db8::1", "source", `missing ']'`},
		{"[ff3e::1]:5000@[fe80::1%eth0]", "source", `an IPv6 zone is not allowed`},
		{"239.1.2.3:5000%", "interface", `interface: missing after '%'`},
		{"239.1.2.3:5000%0", "interface", `interface "0": an index has no leading zero`},
		{"239.1.2.3:5000%02", "interface", `leading zero`},
		{"239.1.2.3:5000%99999999999", "interface", `index out of range`},
		{"239.1.2.3:5000%239.9.9.9", "interface", `not a unicast address of an interface`},
		{"239.1.2.3:5000% eth0", "interface", `name starts or ends with a space`},
		{"239.1.2.3:5000%eth\x00", "interface", `control character`},
		{"239.1.2.3:5000%\xff", "interface", `not valid UTF-8`},
		{"239.1.2.3:5000%" + strings.Repeat("x", 257), "interface", `longer than 256 bytes`},
		{"[ff15::1]:5000x", "port", `port "5000x": not a decimal number`},
		{"[ff15::1]x:5000", "port", `port: missing`},
		{"232.1.1.1:5000@[10.0.0.1]x", "spec", `spec "x": unexpected text`},
	} {
		_, err := group.ParseSpec(tc.in)
		if err == nil {
			t.Errorf("ParseSpec(%q): no error", tc.in)
			continue
		}
		var se *group.SpecError
		if !errors.As(err, &se) || !errors.Is(err, group.ErrBadSpec) {
			t.Errorf("ParseSpec(%q): %v is not a *SpecError wrapping ErrBadSpec", tc.in, err)
			continue
		}
		if se.Part != tc.part || se.Spec != tc.in {
			t.Errorf("ParseSpec(%q): part %q spec %q, want part %q", tc.in, se.Part, se.Spec, tc.part)
		}
		if !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("ParseSpec(%q): %q does not contain %q", tc.in, err, tc.msg)
		}
	}
}

func TestSpecValidateBuilt(t *testing.T) {
	a := netip.MustParseAddr
	for _, tc := range []struct {
		spec group.Spec
		part string
	}{
		{group.Spec{Port: 5000}, "group"},
		{group.Spec{Group: a("239.1.2.3")}, "port"},
		{group.Spec{Group: a("::ffff:239.1.2.3"), Port: 1}, "group"},
		{group.Spec{Group: a("ff15::1%eth0"), Port: 1}, "group"},
		{group.Spec{Group: a("232.1.1.1"), Port: 1, Source: a("::ffff:10.0.0.1")}, "source"},
		{group.Spec{Group: a("239.1.2.3"), Port: 1, Interface: "0"}, "interface"},
	} {
		err := tc.spec.Validate()
		var se *group.SpecError
		if !errors.As(err, &se) || se.Part != tc.part {
			t.Errorf("Validate(%#v) = %v, want a *SpecError on %s", tc.spec, err, tc.part)
		}
		if _, err := tc.spec.MarshalText(); err == nil {
			t.Errorf("MarshalText(%#v): no error", tc.spec)
		}
	}
}

func TestSpecText(t *testing.T) {
	type config struct {
		Groups []group.Spec
		None   group.Spec
	}
	in := config{Groups: []group.Spec{
		group.MustParseSpec("239.1.2.3:5000%eth0"),
		group.MustParseSpec("[ff3e::1]:5000@2001:db8::1%*"),
	}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"Groups":["239.1.2.3:5000%eth0","[ff3e::1]:5000@2001:db8::1%*"],"None":""}`
	if string(b) != want {
		t.Fatalf("json = %s, want %s", b, want)
	}
	var out config
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Groups) != 2 || out.Groups[0] != in.Groups[0] || out.Groups[1] != in.Groups[1] || out.None != (group.Spec{}) {
		t.Fatalf("unmarshalled %#v, want %#v", out, in)
	}
	err = json.Unmarshal([]byte(`{"Groups":["239.1.2.3:0"]}`), &out)
	if !errors.Is(err, group.ErrBadSpec) {
		t.Fatalf("bad spec in JSON: %v", err)
	}
}

func TestIsSourceSpecific(t *testing.T) {
	for s, want := range map[string]bool{
		"232.0.0.0": true, "232.255.255.255": true, "231.255.255.255": false, "233.0.0.1": false,
		"ff3e::1": true, "ff32::8000:1": true, "ff3e:1::1": false, "ff1e::1": false, "ff02::1": false,
		"::ffff:232.1.1.1": true,
	} {
		if got := group.IsSourceSpecific(netip.MustParseAddr(s)); got != want {
			t.Errorf("IsSourceSpecific(%s) = %v", s, got)
		}
	}
	if group.IsSourceSpecific(netip.Addr{}) {
		t.Error("IsSourceSpecific(zero) = true")
	}
}

// FuzzParseSpec checks that ParseSpec never panics, that every spec it
// accepts formats to text that parses back to the same spec (and formats
// the same again), and that every error is a *SpecError.
func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{
		"239.1.2.3:5000", "[ff15::1]:5000", "232.1.1.1:5000@10.0.0.1",
		"[ff3e::1]:5000@[2001:db8::1]%eth0", "239.1.2.3:5000%*", "239.1.2.3:5000%2",
		"[::ffff:239.1.2.3]:05000%10.0.0.1", "239.1.2.3:5000%a%b@c", "[ff15::1%x]:1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		sp, err := group.ParseSpec(in)
		if err != nil {
			var se *group.SpecError
			if !errors.As(err, &se) || !errors.Is(err, group.ErrBadSpec) || se.Spec != in {
				t.Fatalf("ParseSpec(%q): error %v is not a *SpecError for the input", in, err)
			}
			return
		}
		text := sp.String()
		again, err := group.ParseSpec(text)
		if err != nil {
			t.Fatalf("ParseSpec(%q) = %#v, whose String %q fails: %v", in, sp, text, err)
		}
		if again != sp || again.String() != text {
			t.Fatalf("round trip of %q: %#v (%q), then %#v (%q)", in, sp, text, again, again.String())
		}
		if err := sp.Validate(); err != nil {
			t.Fatalf("accepted %q but Validate: %v", in, err)
		}
	})
}
