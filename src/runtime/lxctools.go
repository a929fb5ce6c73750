package runtime

import "errors"

// NewLXCTools returns the lxc-* programs backend over lxcPath.
func NewLXCTools(lxcPath string) (Runtime, error) {
	return nil, errors.New("runtime: lxctools backend: not implemented yet")
}
