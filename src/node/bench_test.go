package node

import (
	"context"
	"testing"
	"time"
)

// BenchmarkInstallStaticWeb is one click in the catalog: install the
// busybox static-web app (rootfs from the host busybox, LXC config,
// rename, UCI section, start, health check) on a real container. The
// remove after each install is not timed.
func BenchmarkInstallStaticWeb(b *testing.B) {
	e := newEnv(b, nil)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		name := e.name("bench")
		port := freePort(b)
		if _, err := e.node.Install(ctx, InstallRequest{App: "static-web", Name: name, Port: port}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := e.node.Remove(ctx, name); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// TestInstallTime logs how long a one-click install of static-web takes
// (no assertion on the figure: the machine is shared).
func TestInstallTime(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	var total time.Duration
	const n = 3
	for i := 0; i < n; i++ {
		name := e.name("time")
		start := time.Now()
		if _, err := e.node.Install(ctx, InstallRequest{App: "static-web", Name: name, Port: freePort(t)}); err != nil {
			t.Fatal(err)
		}
		d := time.Since(start)
		total += d
		t.Logf("install %d: %s", i+1, d.Round(time.Millisecond))
		if err := e.node.Remove(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("one-click install of static-web: %s on average over %d", (total / n).Round(time.Millisecond), n)
}
