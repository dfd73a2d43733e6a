package moldudp64_test

import (
	"errors"
	"fmt"

	"github.com/sharecast/sharecast/internal/moldudp64"
)

func Example() {
	s := moldudp64.MustParseSession("20240102A")
	buf, err := moldudp64.AppendPacket(nil, s, 41, []byte("add AAPL"), []byte("exec MSFT"))
	if err != nil {
		panic(err)
	}

	p, err := moldudp64.Decode(buf)
	if err != nil {
		panic(err)
	}
	fmt.Printf("session %q, %d messages, next %d\n", p.Session, p.Len(), p.NextSeq())
	for seq, msg := range p.Messages() {
		fmt.Printf("%d: %s\n", seq, msg)
	}
	// Output:
	// session "20240102A", 2 messages, next 43
	// 41: add AAPL
	// 42: exec MSFT
}

func ExampleDecode_errors() {
	s := moldudp64.MustParseSession("S1")
	good, _ := moldudp64.AppendPacket(nil, s, 1, []byte("hello"))

	for _, b := range [][]byte{good[:12], good[:len(good)-1], append(good, 0)} {
		_, err := moldudp64.Decode(b)
		fmt.Println(errors.Is(err, moldudp64.ErrShortHeader), errors.Is(err, moldudp64.ErrTruncatedMessage),
			errors.Is(err, moldudp64.ErrTrailingBytes))
		fmt.Println(err)
	}
	// Output:
	// true false false
	// moldudp64: short header: 12 bytes, want 20
	// false true false
	// moldudp64: truncated message: message 1 of 1 at offset 20 needs 7 bytes, 6 left
	// false false true
	// moldudp64: trailing bytes: 1 bytes at offset 27 after message 1 of 1
}

func ExamplePacket_Iter() {
	s := moldudp64.MustParseSession("S1")
	buf, _ := moldudp64.AppendPacket(nil, s, 7, []byte("a"), []byte("b"))
	p, _ := moldudp64.Decode(buf)

	it := p.Iter()
	for seq, msg, ok := it.Next(); ok; seq, msg, ok = it.Next() {
		fmt.Println(seq, string(msg))
	}
	// Output:
	// 7 a
	// 8 b
}

func ExampleAppendHeartbeat() {
	s := moldudp64.MustParseSession("S1")
	for _, b := range [][]byte{
		moldudp64.AppendHeartbeat(nil, s, 43),
		moldudp64.AppendEndOfSession(nil, s, 43),
	} {
		p, _ := moldudp64.Decode(b)
		fmt.Println(p.IsHeartbeat(), p.IsEndOfSession(), p.NextSeq(), len(b))
	}
	// Output:
	// true false 43 20
	// false true 43 20
}
