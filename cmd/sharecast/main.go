// Command sharecast receives, sends and inspects UDP multicast where many
// receivers share one group, interface and port. Run "sharecast --help".
package main

import (
	"os"

	"github.com/sharecast/sharecast/cmd/sharecast/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
