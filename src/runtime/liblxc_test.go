//go:build liblxc

package runtime_test

import (
	"testing"

	"github.com/nuvol-project/nuvol/src/runtime"
	"github.com/nuvol-project/nuvol/src/runtime/runtimetest"
)

func TestLibLXC(t *testing.T) {
	runtimetest.Run(t, func(path string) runtime.Runtime {
		r, err := runtime.New("liblxc", path)
		if err != nil {
			t.Fatal(err)
		}
		return r
	})
}
