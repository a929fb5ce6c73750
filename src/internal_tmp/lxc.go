//go:build liblxc

package deps

import _ "github.com/lxc/go-lxc"
