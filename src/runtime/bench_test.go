package runtime_test

import (
	"context"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/nuvol-project/nuvol/src/runtime"
	"github.com/nuvol-project/nuvol/src/runtime/runtimetest"
)

// BenchmarkStartStop starts and stops one busybox container (host
// network, busybox httpd as the app, like the static-web app) with the
// lxc-* programs alone and through nuvol's runtime, alternating in every
// iteration so that both see the same machine. It reports both times and
// their ratio (nuvol/raw; the target is at most 1.10).
//
//	go test -run '^$' -bench StartStop -benchtime 30x ./src/runtime/
//	CGO_ENABLED=1 go test -tags liblxc -run '^$' -bench StartStop -benchtime 30x ./src/runtime/
func BenchmarkStartStop(b *testing.B) {
	runtimetest.Skip(b)
	path := b.TempDir()
	tools, err := runtime.New("lxctools", path)
	if err != nil {
		b.Fatal(err)
	}
	name := "bench" + runtimetest.Suffix()
	port := runtimetest.FreePort(b)
	runtimetest.Create(b, tools, runtime.Spec{
		Name:    name,
		Init:    []string{"/bin/httpd", "-f", "-p", "127.0.0.1:" + strconv.Itoa(port), "-h", "/www"},
		Network: runtime.Network{Mode: runtime.NetworkHost},
	})
	ctx := context.Background()
	raw := func() error {
		if out, err := exec.Command("lxc-start", "-n", name, "-P", path, "-d").CombinedOutput(); err != nil {
			b.Fatalf("lxc-start: %v: %s", err, out)
		}
		if out, err := exec.Command("lxc-stop", "-n", name, "-P", path, "-t", "10").CombinedOutput(); err != nil {
			b.Fatalf("lxc-stop: %v: %s", err, out)
		}
		return nil
	}
	for _, backend := range []string{"lxctools", "liblxc"} {
		rt, err := runtime.New(backend, path)
		if err != nil {
			continue // liblxc without the build tag
		}
		b.Run(backend, func(b *testing.B) {
			var rawTime, nuvolTime time.Duration
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				raw()
				t1 := time.Now()
				if err := rt.Start(ctx, name); err != nil {
					b.Fatal(err)
				}
				if err := rt.Stop(ctx, name, 10*time.Second); err != nil {
					b.Fatal(err)
				}
				t2 := time.Now()
				rawTime += t1.Sub(t0)
				nuvolTime += t2.Sub(t1)
			}
			b.ReportMetric(float64(rawTime.Microseconds())/1000/float64(b.N), "raw-ms/op")
			b.ReportMetric(float64(nuvolTime.Microseconds())/1000/float64(b.N), "nuvol-ms/op")
			b.ReportMetric(float64(nuvolTime)/float64(rawTime), "nuvol/raw")
		})
	}
}
