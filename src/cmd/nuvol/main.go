// Command nuvol is the nuvol daemon and its command-line client.
//
//	nuvol daemon [--confdir DIR] [--socket PATH] [--ubus PATH]
//	nuvol [--socket PATH] [--json] VERB [ARGS]    (see `nuvol help`)
package main

import (
	"os"
)

// version is set by the build (-X main.version=...).
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
