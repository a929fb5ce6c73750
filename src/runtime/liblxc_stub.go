//go:build !liblxc

package runtime

import "errors"

// Backends compiled without cgo's liblxc say so instead of failing later.
func newLibLXC(string) (Runtime, error) {
	return nil, errors.New(`runtime: backend "liblxc" needs a build with -tags liblxc (cgo)`)
}
