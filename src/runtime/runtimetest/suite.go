package runtimetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nuvol-project/nuvol/src/runtime"
)

// Skip skips t unless it can run real containers: root, the lxc-* programs
// and a static busybox.
func Skip(t testing.TB) {
	t.Helper()
	// `make test` sets NUVOL_REQUIRE_LXC=1: there a machine that cannot run
	// containers is a failure, not a quietly skipped suite.
	skip := t.Skip
	if os.Getenv("NUVOL_REQUIRE_LXC") == "1" {
		skip = func(args ...any) { t.Fatal(append([]any{"NUVOL_REQUIRE_LXC=1, but"}, args...)...) }
	}
	if os.Geteuid() != 0 {
		skip("needs root to run LXC containers")
	}
	if _, err := exec.LookPath("lxc-start"); err != nil {
		skip("lxc-start not installed (apt-get install lxc)")
	}
	if err := CheckStatic(HostBusybox); err != nil {
		skip("no static busybox:", err)
	}
}

// Freezer is implemented by backends that can freeze containers.
type Freezer interface {
	Freeze(ctx context.Context, name string) error
	Unfreeze(ctx context.Context, name string) error
}

// Suffix returns a random hex string, so that names (containers, bridges,
// cgroups) never collide with another test run's.
func Suffix() string {
	b := make([]byte, 3)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Create builds a busybox rootfs and config for spec in a staging
// directory under rt.Path() and renames it into place, as nuvol's install
// does. It registers a cleanup that destroys the container.
func Create(t testing.TB, rt runtime.Runtime, spec runtime.Spec) {
	t.Helper()
	stage := filepath.Join(rt.Path(), ".stage-"+spec.Name)
	if err := os.MkdirAll(stage, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := MakeRootfs(stage, HostBusybox); err != nil {
		t.Fatal(err)
	}
	if err := rt.Create(context.Background(), stage, spec); err != nil {
		t.Fatal(err)
	}
	names, err := rt.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(names, ".stage-"+spec.Name) {
		t.Fatalf("List shows the staging directory: %q", names)
	}
	if err := os.Rename(stage, filepath.Join(rt.Path(), spec.Name)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Kill leftovers of a failed test; an already destroyed one is fine.
		if err := rt.Destroy(context.Background(), spec.Name); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("cleanup: %v", err)
		}
	})
}

// WaitState polls until name is in state want.
func WaitState(t testing.TB, rt runtime.Runtime, name string, want runtime.State) {
	t.Helper()
	var st runtime.State
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if st, err = rt.State(context.Background(), name); err == nil && st == want {
			return
		}
	}
	t.Fatalf("%s: state %q (err %v), want %q", name, st, err, want)
}

// WaitLog polls until name's console log has a line containing s.
func WaitLog(t testing.TB, rt runtime.Runtime, name, s string) {
	t.Helper()
	var lines []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		lines, _ = rt.Log(name, 0)
		for _, l := range lines {
			if strings.Contains(l, s) {
				return
			}
		}
	}
	t.Fatalf("%s: console log has no %q: %q", name, s, lines)
}

// WaitNoMonitorCgroup polls until the stopped container's monitor has
// removed its cgroup (lxc.monitor.NAME, or NAME-1, -2... when that was
// taken) from every hierarchy: a leaked one per start would pile up on a
// router.
func WaitNoMonitorCgroup(t testing.TB, name string) {
	t.Helper()
	var left []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		left = nil
		for _, pat := range []string{"/sys/fs/cgroup/lxc.monitor." + name + "*", "/sys/fs/cgroup/*/lxc.monitor." + name + "*"} {
			m, _ := filepath.Glob(pat)
			left = append(left, m...)
		}
		if len(left) == 0 {
			return
		}
	}
	t.Errorf("monitor cgroups left after stop: %q", left)
}

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitHTTP polls url until it answers 200 and returns the body.
func WaitHTTP(t testing.TB, url string) string {
	t.Helper()
	c := &http.Client{Timeout: time.Second}
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var resp *http.Response
		resp, err = c.Get(url)
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			return string(body)
		}
		err = fmt.Errorf("status %s", resp.Status)
	}
	t.Fatalf("GET %s: %v", url, err)
	return ""
}

const sleeper = "while :; do sleep 1 & wait $!; done"

// Run runs the conformance suite on the runtime newRuntime returns for an
// lxc_path. Every backend's tests call it.
func Run(t *testing.T, newRuntime func(path string) runtime.Runtime) {
	Skip(t)
	path := t.TempDir()
	rt := newRuntime(path)
	if rt.Path() != path {
		t.Fatalf("Path() = %q, want %q", rt.Path(), path)
	}
	ctx := context.Background()
	sfx := Suffix()

	t.Run("NotFound", func(t *testing.T) {
		n := "nope" + sfx
		check := func(what string, err error) {
			if !errors.Is(err, runtime.ErrNotFound) {
				t.Errorf("%s: err %v, want ErrNotFound", what, err)
			}
		}
		check("Start", rt.Start(ctx, n))
		check("Stop", rt.Stop(ctx, n, time.Second))
		check("Restart", rt.Restart(ctx, n, time.Second))
		check("Destroy", rt.Destroy(ctx, n))
		_, err := rt.State(ctx, n)
		check("State", err)
		_, err = rt.Info(ctx, n)
		check("Info", err)
		_, err = rt.Exec(ctx, n, []string{"true"})
		check("Exec", err)
		_, err = rt.Log(n, 10)
		check("Log", err)
		_, err = rt.State(ctx, "../etc")
		check("State ../etc", err)
	})

	t.Run("CreateRefuses", func(t *testing.T) {
		dir := t.TempDir()
		if err := MakeRootfs(dir, HostBusybox); err != nil {
			t.Fatal(err)
		}
		for _, spec := range []runtime.Spec{
			{Name: "bad name"},
			{Name: "../x"},
			{Name: "n" + sfx, Network: runtime.Network{Mode: "weird"}},
			{Name: "n" + sfx, Network: runtime.Network{Mode: runtime.NetworkBridge}},
			{Name: "n" + sfx, MemoryMiB: -1},
			{Name: "n" + sfx, Env: []string{"NOEQUALS"}},
		} {
			if err := rt.Create(ctx, dir, spec); err == nil {
				t.Errorf("Create(%+v) succeeded", spec)
			}
		}
		if err := rt.Create(ctx, t.TempDir(), runtime.Spec{Name: "n" + sfx}); err == nil {
			t.Error("Create without a rootfs succeeded")
		}
	})

	t.Run("Lifecycle", func(t *testing.T) {
		name := "life" + sfx
		Create(t, rt, runtime.Spec{
			Name: name,
			// Says goodbye on SIGTERM: proves the stop was graceful.
			Init:      []string{"/bin/sh", "-c", `trap "echo bye \$GREETING; exit 0" TERM; echo started; ` + sleeper},
			Env:       []string{"GREETING=from nuvol"},
			Network:   runtime.Network{Mode: runtime.NetworkNone},
			MemoryMiB: 48,
			CPUWeight: 50,
		})
		names, err := rt.List(ctx)
		if err != nil || !slices.Contains(names, name) {
			t.Fatalf("List = %q, %v; want %s in it", names, err, name)
		}
		if st, err := rt.State(ctx, name); err != nil || st != runtime.StateStopped {
			t.Fatalf("new container: state %q, %v", st, err)
		}
		if in, err := rt.Info(ctx, name); err != nil || in.PID != 0 || in.State != runtime.StateStopped {
			t.Fatalf("stopped Info = %+v, %v", in, err)
		}
		if _, err := rt.Exec(ctx, name, []string{"true"}); err == nil {
			t.Error("Exec in a stopped container succeeded")
		}
		ownBefore, _ := os.ReadFile("/proc/self/cgroup")
		if err := rt.Start(ctx, name); err != nil {
			t.Fatal(err)
		}
		// liblxc moves its caller into the container's monitor cgroup; the
		// runtime must not leave this process there.
		if ownAfter, _ := os.ReadFile("/proc/self/cgroup"); string(ownAfter) != string(ownBefore) {
			t.Errorf("Start moved this process's cgroups:\n%s\nto\n%s", ownBefore, ownAfter)
		}
		WaitState(t, rt, name, runtime.StateRunning)
		if err := rt.Start(ctx, name); err != nil {
			t.Errorf("Start of a running container: %v", err)
		}
		WaitLog(t, rt, name, "started")

		in, err := rt.Info(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if in.Name != name || in.State != runtime.StateRunning || in.PID <= 0 || in.MemoryBytes <= 0 || in.CPUTime <= 0 {
			t.Errorf("Info = %+v", in)
		}
		if len(in.Addresses) != 0 {
			t.Errorf("empty network namespace has addresses %q", in.Addresses)
		}
		checkLimits(t, in.PID, 48<<20, 50)

		out, err := rt.Exec(ctx, name, []string{"echo", "hello world"})
		if err != nil || string(out) != "hello world\n" {
			t.Errorf("Exec echo = %q, %v", out, err)
		}
		out, err = rt.Exec(ctx, name, []string{"hostname"})
		if err != nil || strings.TrimSpace(string(out)) != name {
			t.Errorf("hostname = %q, %v; want %s", out, err, name)
		}
		out, err = rt.Exec(ctx, name, []string{"cat", "/proc/1/environ"})
		if err != nil || !strings.Contains(string(out), "GREETING=from nuvol") {
			t.Errorf("init environment = %q, %v", out, err)
		}
		_, err = rt.Exec(ctx, name, []string{"sh", "-c", "echo oops; exit 3"})
		var ee *runtime.ExitError
		if !errors.As(err, &ee) || ee.Code != 3 || !strings.Contains(string(ee.Output), "oops") {
			t.Errorf("Exec exit 3: %v (%#v)", err, ee)
		}

		if f, ok := rt.(Freezer); ok {
			if err := f.Freeze(ctx, name); err != nil {
				t.Fatal(err)
			}
			WaitState(t, rt, name, runtime.StateFrozen)
			if err := f.Unfreeze(ctx, name); err != nil {
				t.Fatal(err)
			}
			WaitState(t, rt, name, runtime.StateRunning)
			// A frozen container still stops gracefully (below).
			if err := f.Freeze(ctx, name); err != nil {
				t.Fatal(err)
			}
			WaitState(t, rt, name, runtime.StateFrozen)
		}

		if err := rt.Stop(ctx, name, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		WaitState(t, rt, name, runtime.StateStopped)
		WaitLog(t, rt, name, "bye from nuvol")
		WaitNoMonitorCgroup(t, name)
		if err := rt.Stop(ctx, name, time.Second); err != nil {
			t.Errorf("Stop of a stopped container: %v", err)
		}
		if l, err := rt.Log(name, 1); err != nil || len(l) != 1 {
			t.Errorf("Log(1) = %q, %v", l, err)
		}

		if err := rt.Destroy(ctx, name); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(path, name)); !os.IsNotExist(err) {
			t.Errorf("directory left after Destroy: %v", err)
		}
		if _, err := rt.State(ctx, name); !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("State after Destroy: %v", err)
		}
	})

	t.Run("StopKillsAfterTimeout", func(t *testing.T) {
		name := "stubborn" + sfx
		Create(t, rt, runtime.Spec{
			Name:    name,
			Init:    []string{"/bin/sh", "-c", `trap "" TERM; echo started; while :; do sleep 1; done`},
			Network: runtime.Network{Mode: runtime.NetworkNone},
		})
		if err := rt.Start(ctx, name); err != nil {
			t.Fatal(err)
		}
		WaitLog(t, rt, name, "started")
		if err := rt.Stop(ctx, name, time.Second); err != nil {
			t.Fatal(err)
		}
		WaitState(t, rt, name, runtime.StateStopped)
	})

	t.Run("StopRightAfterStart", func(t *testing.T) {
		// The init ignores signals until its trap is set, so the first
		// stop request can be lost; the runtime must ask again rather than
		// wait out the timeout and kill. The init logs each request it
		// gets, so a stop that ended in a kill leaves no such line.
		name := "quick" + sfx
		Create(t, rt, runtime.Spec{Name: name, Init: []string{"/bin/sh", "-c", sleeper}, Network: runtime.Network{Mode: runtime.NetworkNone}})
		for i := 0; i < 3; i++ {
			if err := rt.Start(ctx, name); err != nil {
				t.Fatal(err)
			}
			if err := rt.Stop(ctx, name, 30*time.Second); err != nil {
				t.Fatal(err)
			}
			WaitState(t, rt, name, runtime.StateStopped)
			lines, _ := rt.Log(name, 0)
			n := 0
			for _, l := range lines {
				if strings.Contains(l, "nuvol: stopping the app") {
					n++
				}
			}
			if n < i+1 {
				t.Fatalf("stop %d was not graceful: console log %q", i+1, lines)
			}
		}
	})

	t.Run("StartFailureSaysWhy", func(t *testing.T) {
		name := "broken" + sfx
		missing := "nvno" + sfx
		Create(t, rt, runtime.Spec{Name: name, Init: []string{"/bin/sh", "-c", sleeper},
			Network: runtime.Network{Mode: runtime.NetworkBridge, Bridge: missing}})
		err := rt.Start(ctx, name)
		if err == nil {
			t.Fatal("started on a bridge that does not exist")
		}
		t.Logf("start error: %v", err)
		if !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), missing) {
			t.Errorf("start error does not name the container and the bridge: %v", err)
		}
		if st, err := rt.State(ctx, name); err != nil || st != runtime.StateStopped {
			t.Errorf("after a failed start: %q, %v", st, err)
		}
		WaitNoMonitorCgroup(t, name)
	})

	t.Run("RestartAndAdopt", func(t *testing.T) {
		name := "adopt" + sfx
		Create(t, rt, runtime.Spec{Name: name, Init: []string{"/bin/sh", "-c", sleeper}, Network: runtime.Network{Mode: runtime.NetworkNone}})
		if err := rt.Start(ctx, name); err != nil {
			t.Fatal(err)
		}
		first, err := rt.Info(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if err := rt.Restart(ctx, name, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		WaitState(t, rt, name, runtime.StateRunning)
		second, err := rt.Info(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if second.PID == first.PID || second.PID <= 0 {
			t.Errorf("PID after Restart %d, before %d", second.PID, first.PID)
		}
		// A new Runtime over the same lxc_path, as after a daemon restart,
		// sees the same running container.
		rt2 := newRuntime(path)
		in, err := rt2.Info(ctx, name)
		if err != nil || in.State != runtime.StateRunning || in.PID != second.PID {
			t.Fatalf("adopted Info = %+v, %v; want running with PID %d", in, err, second.PID)
		}
		if err := rt2.Stop(ctx, name, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		WaitState(t, rt, name, runtime.StateStopped)
		// Destroy of a running container kills it first.
		if err := rt.Start(ctx, name); err != nil {
			t.Fatal(err)
		}
		if err := rt.Destroy(ctx, name); err != nil {
			t.Fatal(err)
		}
		if _, err := rt.State(ctx, name); !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("State after Destroy: %v", err)
		}
	})

	t.Run("ChangesBehindBack", func(t *testing.T) {
		// Someone runs the lxc-* programs on an app's container (or it
		// changes on its own): the very next Info and State say what LXC
		// says, whatever the runtime saw before.
		name := "behind" + sfx
		Create(t, rt, runtime.Spec{Name: name, Init: []string{"/bin/sh", "-c", sleeper}, Network: runtime.Network{Mode: runtime.NetworkNone}})
		lxc := func(prog string, args ...string) {
			t.Helper()
			if out, err := exec.Command(prog, append([]string{"-P", path, "-n", name}, args...)...).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v: %s", prog, err, out)
			}
		}
		want := func(what string, st runtime.State, notPID int) runtime.Info {
			t.Helper()
			in, err := rt.Info(ctx, name)
			if err != nil || in.State != st || (st == runtime.StateRunning && in.PID <= 0) || (st == runtime.StateStopped && in.PID != 0) || (notPID > 0 && in.PID == notPID) {
				t.Fatalf("%s: Info = %+v, %v; want %s (PID not %d)", what, in, err, st, notPID)
			}
			if got, err := rt.State(ctx, name); err != nil || got != st {
				t.Fatalf("%s: State = %q, %v; want %s", what, got, err, st)
			}
			return in
		}
		if err := rt.Start(ctx, name); err != nil {
			t.Fatal(err)
		}
		WaitState(t, rt, name, runtime.StateRunning)
		first := want("after Start", runtime.StateRunning, 0)
		want("asked again", runtime.StateRunning, 0)

		if _, ok := rt.(Freezer); ok {
			lxc("lxc-freeze")
			want("after lxc-freeze", runtime.StateFrozen, 0)
			lxc("lxc-unfreeze")
			if in := want("after lxc-unfreeze", runtime.StateRunning, 0); in.PID != first.PID {
				t.Errorf("PID %d after unfreeze, was %d", in.PID, first.PID)
			}
		}
		lxc("lxc-stop", "-k")
		want("after lxc-stop -k", runtime.StateStopped, 0)
		lxc("lxc-start", "-d")
		want("after lxc-start", runtime.StateRunning, first.PID)
		want("asked again", runtime.StateRunning, first.PID)

		// The init dies on its own (here: killed from the host). LXC
		// takes a moment to notice; then Info says so too.
		in, err := rt.Info(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(in.PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if in, err = rt.Info(ctx, name); err == nil && in.State == runtime.StateStopped {
				break
			}
		}
		if err != nil || in.State != runtime.StateStopped {
			t.Fatalf("Info after the init was killed: %+v, %v", in, err)
		}
	})

	t.Run("HostNetworkLeavesHostAlone", func(t *testing.T) {
		before := NetSnapshot(t)
		name := "host" + sfx
		port := FreePort(t)
		Create(t, rt, runtime.Spec{
			Name:    name,
			Init:    []string{"/bin/httpd", "-f", "-p", "127.0.0.1:" + strconv.Itoa(port), "-h", "/www"},
			Network: runtime.Network{Mode: runtime.NetworkHost},
		})
		if err := rt.Start(ctx, name); err != nil {
			t.Fatal(err)
		}
		// The app listens on the host's own loopback: same namespace.
		if body := WaitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); !strings.Contains(body, "nuvol test page") {
			t.Errorf("page = %q", body)
		}
		out, err := rt.Exec(ctx, name, []string{"cat", "/proc/self/status"})
		if err != nil {
			t.Fatal(err)
		}
		if capBnd(t, string(out))&(1<<12) != 0 { // CAP_NET_ADMIN
			t.Error("host-mode container keeps CAP_NET_ADMIN")
		}
		if err := rt.Stop(ctx, name, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		WaitState(t, rt, name, runtime.StateStopped)
		if err := rt.Destroy(ctx, name); err != nil {
			t.Fatal(err)
		}
		if d := NetChanges(before, NetSnapshot(t)); len(d) > 0 {
			t.Fatalf("host network changed:\n%s", strings.Join(d, "\n"))
		}
	})

	t.Run("BridgeNetwork", func(t *testing.T) {
		if _, err := exec.LookPath("ip"); err != nil {
			t.Skip("no ip command (iproute2)")
		}
		br := "nvt" + sfx
		b := make([]byte, 1)
		rand.Read(b)
		subnet := fmt.Sprintf("10.213.%d", b[0])
		TestBridge(t, br, subnet)

		name := "bridge" + sfx
		port := FreePort(t)
		Create(t, rt, runtime.Spec{
			Name:    name,
			Init:    []string{"/bin/httpd", "-f", "-p", strconv.Itoa(port), "-h", "/www"},
			Network: runtime.Network{Mode: runtime.NetworkBridge, Bridge: br, Address: subnet + ".2/24", Gateway: subnet + ".1"},
		})
		if err := rt.Start(ctx, name); err != nil {
			t.Fatal(err)
		}
		in, err := rt.Info(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if len(in.Addresses) == 0 || in.Addresses[0] != subnet+".2" {
			t.Errorf("Info.Addresses = %q, want %s.2 first", in.Addresses, subnet)
		}
		if body := WaitHTTP(t, fmt.Sprintf("http://%s.2:%d/", subnet, port)); !strings.Contains(body, "nuvol test page") {
			t.Errorf("page = %q", body)
		}
		if err := rt.Destroy(ctx, name); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("BridgeDHCP", func(t *testing.T) {
		// Without a fixed address a bridge-mode app asks the LAN's DHCP
		// server (on a router, dnsmasq on br-lan); here a udhcpd that
		// serves only a test bridge.
		if _, err := exec.LookPath("ip"); err != nil {
			t.Skip("no ip command (iproute2)")
		}
		br := "nvd" + sfx
		b := make([]byte, 1)
		rand.Read(b)
		subnet := fmt.Sprintf("10.214.%d", b[0])
		TestBridge(t, br, subnet)
		DHCPServer(t, br, subnet)
		name := "dhcp" + sfx
		port := FreePort(t)
		Create(t, rt, runtime.Spec{
			Name:    name,
			Init:    []string{"/bin/httpd", "-f", "-p", strconv.Itoa(port), "-h", "/www"},
			Network: runtime.Network{Mode: runtime.NetworkBridge, Bridge: br},
		})
		if err := rt.Start(ctx, name); err != nil {
			t.Fatal(err)
		}
		addr := WaitAddress(t, rt, name, subnet+".")
		if body := WaitHTTP(t, fmt.Sprintf("http://%s:%d/", addr, port)); !strings.Contains(body, "nuvol test page") {
			t.Errorf("page = %q", body)
		}
		out, err := rt.Exec(ctx, name, []string{"cat", "/etc/resolv.conf"})
		if err != nil || !strings.Contains(string(out), "nameserver "+subnet+".1") {
			t.Errorf("resolv.conf = %q, %v", out, err)
		}
		if err := rt.Stop(ctx, name, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		WaitState(t, rt, name, runtime.StateStopped)
	})
}

// TestBridge makes a bridge with the address prefix.1/24 for one test and
// deletes it afterwards. It never touches the host's own interfaces.
func TestBridge(t testing.TB, name, prefix string) {
	t.Helper()
	ip(t, "link", "add", name, "type", "bridge")
	t.Cleanup(func() { exec.Command("ip", "link", "del", name).Run() })
	ip(t, "addr", "add", prefix+".1/24", "dev", name)
	ip(t, "link", "set", name, "up")
}

// DHCPServer runs busybox's udhcpd on the test bridge br (prefix.1/24),
// leasing prefix.100-120 with prefix.1 as router and DNS, until the test
// ends. It binds to br only.
func DHCPServer(t testing.TB, br, prefix string) {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "udhcpd.conf")
	body := fmt.Sprintf("start %[1]s.100\nend %[1]s.120\ninterface %[2]s\nlease_file %[3]s\nmax_leases 20\nopt subnet 255.255.255.0\nopt router %[1]s.1\nopt dns %[1]s.1\n",
		prefix, br, filepath.Join(dir, "leases"))
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(HostBusybox, "udhcpd", "-f", conf)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("udhcpd said: %s", out)
		}
	})
}

// WaitAddress polls Info until name has an address starting with prefix.
func WaitAddress(t testing.TB, rt runtime.Runtime, name, prefix string) string {
	t.Helper()
	var in runtime.Info
	var err error
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if in, err = rt.Info(context.Background(), name); err == nil {
			for _, a := range in.Addresses {
				if strings.HasPrefix(a, prefix) {
					return a
				}
			}
		}
	}
	t.Fatalf("%s: no address in %s.* (Info %+v, %v)", name, prefix, in, err)
	return ""
}

func ip(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func capBnd(t testing.TB, status string) uint64 {
	for _, l := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(l, "CapBnd:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatalf("CapBnd %q: %v", v, err)
			}
			return n
		}
	}
	t.Fatalf("no CapBnd in %q", status)
	return 0
}

// NetState is the host's network configuration: each interface's
// addresses, and the routes (IPv4 and IPv6, all tables) by device, as the
// JSON `ip -j` prints, without the address lifetimes, which count down on
// their own.
type NetState struct {
	Addrs  map[string]string // interface -> its addr_info
	Kinds  map[string]string // interface -> link kind ("" for a NIC, "bridge", "veth"...)
	Routes map[string]string // device -> its routes
}

// NetSnapshot reads the host's NetState.
func NetSnapshot(t testing.TB) NetState {
	t.Helper()
	run := func(args ...string) []map[string]any {
		out, err := exec.Command("ip", args...).Output()
		if err != nil {
			t.Fatalf("ip %v: %v", args, err)
		}
		var v []map[string]any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("ip %v: %v", args, err)
		}
		for _, e := range v {
			dropKeys(e, "valid_life_time", "preferred_life_time", "expires")
		}
		return v
	}
	st := NetState{Addrs: map[string]string{}, Kinds: map[string]string{}, Routes: map[string]string{}}
	for _, l := range run("-j", "-d", "addr") {
		name, _ := l["ifname"].(string)
		b, _ := json.Marshal(l["addr_info"])
		st.Addrs[name] = string(b)
		if li, ok := l["linkinfo"].(map[string]any); ok {
			st.Kinds[name], _ = li["info_kind"].(string)
		}
	}
	for _, fam := range []string{"-4", "-6"} {
		for _, r := range run("-j", fam, "route", "show", "table", "all") {
			dev, _ := r["dev"].(string)
			b, _ := json.Marshal(r)
			st.Routes[dev] += string(b) + "\n"
		}
	}
	return st
}

// NetChanges lists how after differs from before on the interfaces that
// were there before. Interfaces that appear meanwhile are left out, and so
// is a bridge or veth that disappears with its routes: other tests on this
// machine make and delete their own. Everything else, the router's real
// interfaces above all, must be exactly as it was.
func NetChanges(before, after NetState) []string {
	var diffs []string
	gone := map[string]bool{}
	for name, addrs := range before.Addrs {
		got, ok := after.Addrs[name]
		switch {
		case !ok && (before.Kinds[name] == "bridge" || before.Kinds[name] == "veth"):
			gone[name] = true
		case !ok:
			diffs = append(diffs, fmt.Sprintf("interface %s is gone", name))
		case got != addrs:
			diffs = append(diffs, fmt.Sprintf("%s: addresses %s, were %s", name, got, addrs))
		}
	}
	for dev, routes := range before.Routes {
		if _, ok := after.Addrs[dev]; !ok && gone[dev] {
			continue
		}
		if after.Routes[dev] != routes {
			diffs = append(diffs, fmt.Sprintf("routes via %q: %s, were %s", dev, after.Routes[dev], routes))
		}
	}
	for dev, routes := range after.Routes {
		if _, ok := before.Routes[dev]; !ok {
			if _, existed := before.Addrs[dev]; existed || dev == "" {
				diffs = append(diffs, fmt.Sprintf("new routes via %q: %s", dev, routes))
			}
		}
	}
	sort.Strings(diffs)
	return diffs
}

// checkLimits checks the memory limit and CPU weight of pid's cgroup.
func checkLimits(t testing.TB, pid int, mem int64, weight int) {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{}
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) == 3 {
			for _, c := range strings.Split(f[1], ",") {
				paths[c] = f[2]
			}
		}
	}
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	var gotMem, gotCPU, wantCPU string
	if runtime.CgroupVersion() == 2 {
		dir := filepath.Join("/sys/fs/cgroup", paths[""])
		gotMem, gotCPU, wantCPU = read(filepath.Join(dir, "memory.max")), read(filepath.Join(dir, "cpu.weight")), strconv.Itoa(weight)
	} else {
		gotMem = read(filepath.Join("/sys/fs/cgroup/memory", paths["memory"], "memory.limit_in_bytes"))
		gotCPU, wantCPU = read(filepath.Join("/sys/fs/cgroup/cpu", paths["cpu"], "cpu.shares")), strconv.Itoa(weight*1024/100)
	}
	if gotMem != strconv.FormatInt(mem, 10) {
		t.Errorf("memory limit %s, want %d", gotMem, mem)
	}
	if gotCPU != wantCPU {
		t.Errorf("cpu weight %s, want %s", gotCPU, wantCPU)
	}
}

func dropKeys(v any, keys ...string) {
	switch v := v.(type) {
	case map[string]any:
		for _, k := range keys {
			delete(v, k)
		}
		for _, e := range v {
			dropKeys(e, keys...)
		}
	case []any:
		for _, e := range v {
			dropKeys(e, keys...)
		}
	}
}
