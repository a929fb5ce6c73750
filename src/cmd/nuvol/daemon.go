package main

import (
	"fmt"
	"io"
)

func runDaemon(args []string, stderr io.Writer) int {
	fmt.Fprintln(stderr, "nuvol daemon: not yet")
	return exitFail
}
