// Command nuvol is the nuvol daemon and its command-line client.
package main

import (
	"fmt"
	"os"
)

// version is set by the build (-X main.version=...).
var version = "dev"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "version" {
		fmt.Println(version)
		return
	}
	fmt.Fprintln(os.Stderr, "usage: nuvol version")
	os.Exit(2)
}
