package natsrelay_test

import (
	"testing"

	"github.com/sharecast/sharecast/internal/testbed"
)

func TestMain(m *testing.M) { testbed.Main(m) }
