package runtime_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os/exec"
	"slices"
	"testing"

	"github.com/nuvol-project/nuvol/src/runtime"
	"github.com/nuvol-project/nuvol/src/runtime/runtimetest"
)

// TestQuickInfoMatchesLXCInfo checks that what LXCTools reads without
// lxc-info (PID, state, addresses) is what lxc-info says, in each network
// mode.
func TestQuickInfoMatchesLXCInfo(t *testing.T) {
	runtimetest.Skip(t)
	rt, err := runtime.NewLXCTools(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sfx := runtimetest.Suffix()
	nets := []struct {
		name string
		net  runtime.Network
	}{
		{"none", runtime.Network{Mode: runtime.NetworkNone}},
		{"host", runtime.Network{Mode: runtime.NetworkHost}},
	}
	if _, err := exec.LookPath("ip"); err == nil {
		br := "nvq" + sfx
		b := make([]byte, 1)
		rand.Read(b)
		subnet := fmt.Sprintf("10.215.%d", b[0])
		runtimetest.TestBridge(t, br, subnet)
		nets = append(nets, struct {
			name string
			net  runtime.Network
		}{"bridge", runtime.Network{Mode: runtime.NetworkBridge, Bridge: br, Address: subnet + ".2/24", Gateway: subnet + ".1"}})
	}
	for _, tc := range nets {
		t.Run(tc.name, func(t *testing.T) {
			name := "q" + tc.name + sfx
			runtimetest.Create(t, rt, runtime.Spec{Name: name, Init: []string{"/bin/sh", "-c", "while :; do sleep 1 & wait $!; done"}, Network: tc.net})
			if _, ok := runtime.QuickInfo(rt, name); ok {
				t.Fatal("quick answer for a container never seen running")
			}
			if err := rt.Start(ctx, name); err != nil {
				t.Fatal(err)
			}
			if _, ok := runtime.QuickInfo(rt, name); ok {
				t.Fatal("quick answer right after Start")
			}
			slow, err := runtime.SlowInfo(ctx, rt, name)
			if err != nil || slow.State != runtime.StateRunning {
				t.Fatalf("Info = %+v, %v", slow, err)
			}
			quick, ok := runtime.QuickInfo(rt, name)
			if !ok {
				t.Fatal("no quick answer for a running container lxc-info has seen")
			}
			if quick.Name != slow.Name || quick.State != slow.State || quick.PID != slow.PID || !slices.Equal(quick.Addresses, slow.Addresses) {
				t.Errorf("quick Info %+v, lxc-info %+v", quick, slow)
			}
			if quick.MemoryBytes <= 0 || quick.CPUTime <= 0 {
				t.Errorf("quick Info figures %+v", quick)
			}
			t.Logf("addresses %q", quick.Addresses)
			if err := rt.Stop(ctx, name, 0); err != nil {
				t.Fatal(err)
			}
			if _, ok := runtime.QuickInfo(rt, name); ok {
				t.Error("quick answer after Stop")
			}
		})
	}
}
