package mcast_test

import (
	"testing"

	"github.com/sharecast/sharecast/internal/testbed"
)

func TestMain(m *testing.M) {
	testbed.Register("recv", recvHelper)
	testbed.Register("bind", bindHelper)
	testbed.Main(m)
}
