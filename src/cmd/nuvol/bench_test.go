package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nuvol-project/nuvol/src/api"
)

// TestDaemonBench measures the daemon's budgets (run by `make bench`, or
// NUVOL_BENCH=1 go test -run DaemonBench -v ./src/cmd/nuvol):
//
//   - idle resident memory with serf running (two members) and three apps
//     installed, under the init script's settings for a 128 MiB router
//     (GOGC=50 GOMEMLIMIT=16MiB) and with Go's defaults: budget 16 MiB;
//   - the median round trip of `list` over the control socket: budget 5 ms;
//   - the time from exec to the first answered request: budget 300 ms.
//
// It reports figures; it does not fail on them (the machine is shared).
func TestDaemonBench(t *testing.T) {
	if os.Getenv("NUVOL_BENCH") == "" {
		t.Skip("set NUVOL_BENCH=1 (make bench does)")
	}
	needLXC(t)
	pa, pb := freePort(t), freePort(t)
	a := newNode(t, nodeOpts{name: "alpha", serfPort: pa, logLevel: "info"})
	b := newNode(t, nodeOpts{name: "beta", serfPort: pb, logLevel: "info", join: []string{fmt.Sprintf("127.0.0.1:%d", pa)}})
	b.start()

	// Start-up: exec to the first answered status, five times (no apps yet,
	// serf starting in the background as on every start).
	var starts []time.Duration
	for i := 0; i < 5; i++ {
		t0 := time.Now()
		a.start()
		starts = append(starts, time.Since(t0))
		if err := a.stop(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}

	a.start()
	for i := 0; i < 3; i++ {
		a.must("install", "static-web", "--name", fmt.Sprintf("web%d", i), "--port", fmt.Sprint(freePort(t)))
	}
	a.must("publish", "web0")

	rss := func(env ...string) int64 {
		a.stop(syscall.SIGTERM)
		a.startEnv(env)
		time.Sleep(8 * time.Second) // past start-up, a reconcile and gossip rounds
		// Exercise it the way LuCI's poll does, then let it idle.
		for i := 0; i < 20; i++ {
			a.must("ls")
		}
		time.Sleep(4 * time.Second)
		return vmRSS(t, a.cmd.Process.Pid)
	}
	tuned := rss("GOGC=50", "GOMEMLIMIT=16MiB")
	plain := rss()

	// list round trips over one connection, apps running.
	c, err := api.Dial(a.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var rtts []time.Duration
	for i := 0; i < 200; i++ {
		t0 := time.Now()
		if _, err := c.Call(context.Background(), "list", nil); err != nil {
			t.Fatal(err)
		}
		rtts = append(rtts, time.Since(t0))
	}

	// The same, a second apart: what a lone `nuvol ls` costs, with no
	// warm caches in the daemon or the kernel.
	var cold []time.Duration
	for i := 0; i < 8; i++ {
		time.Sleep(time.Second)
		t0 := time.Now()
		if _, err := c.Call(context.Background(), "list", nil); err != nil {
			t.Fatal(err)
		}
		cold = append(cold, time.Since(t0))
	}

	t.Logf("idle RSS, serf (2 members) + 3 apps, GOGC=50 GOMEMLIMIT=16MiB: %.1f MiB (budget 16 MiB)", float64(tuned)/(1<<20))
	t.Logf("idle RSS, same, Go defaults:                                 %.1f MiB", float64(plain)/(1<<20))
	t.Logf("list round trip over the control socket, 3 apps: median %s, p90 %s (budget 5 ms)", median(rtts), pct(rtts, 90))
	t.Logf("list round trip, one call a second, 3 apps: median %s, max %s", median(cold), pct(cold, 100))
	t.Logf("start to serving (exec to first answered request): median %s of 5, max %s (budget 300 ms)", median(starts), pct(starts, 100))
	for i := 0; i < 3; i++ {
		a.must("remove", fmt.Sprintf("web%d", i))
	}
}

func (n *testNode) startEnv(env []string) {
	old := os.Environ()
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		os.Setenv(k, v)
	}
	n.start()
	os.Clearenv()
	for _, e := range old {
		k, v, _ := strings.Cut(e, "=")
		os.Setenv(k, v)
	}
}

func vmRSS(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

func median(d []time.Duration) time.Duration { return pct(d, 50) }

func pct(d []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s) - 1) * p / 100
	return s[i].Round(10 * time.Microsecond)
}
