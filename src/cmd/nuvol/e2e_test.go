package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nuvol-project/nuvol/src/api"
	"github.com/nuvol-project/nuvol/src/runtime/runtimetest"
	"github.com/nuvol-project/nuvol/src/ubus"
	"github.com/nuvol-project/nuvol/src/ubus/ubustest"
	"github.com/nuvol-project/nuvol/src/uci"
)

// End-to-end tests: the real binary, real LXC containers (nuvol's own
// busybox rootfs, whose init starts only the app, so host networking is
// safe), real serf between daemons on 127.0.0.1. They drive the daemon only
// through the CLI and the control socket.

var (
	buildOnce sync.Once
	binPath   string
	buildDir  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// daemonAttr makes a daemon die with the test binary (a test that times
// out runs no cleanups).
var daemonAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}

// nuvolBin builds the binary once for all tests of the package run
// (NUVOL_TEST_BIN names a prebuilt one instead, e.g. bin/nuvol).
func nuvolBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if p := os.Getenv("NUVOL_TEST_BIN"); p != "" {
			binPath, buildErr = filepath.Abs(p)
			return
		}
		dir, err := os.MkdirTemp("", "nuvol-bin")
		if err != nil {
			buildErr = err
			return
		}
		buildDir = dir
		binPath = filepath.Join(dir, "nuvol")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func needLXC(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no containers")
	}
	runtimetest.Skip(t)
}

// lxcHere reports whether the container half of a test can run: always
// under `make test` (NUVOL_REQUIRE_LXC=1, where a missing LXC must fail),
// elsewhere only as root with the lxc-* programs.
func lxcHere() bool {
	if os.Getenv("NUVOL_REQUIRE_LXC") == "1" {
		return true
	}
	_, err := exec.LookPath("lxc-start")
	return os.Geteuid() == 0 && err == nil
}

// freePort returns a port that was free on 127.0.0.1 for TCP and UDP (serf
// needs both).
func freePort(t *testing.T) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

type nodeOpts struct {
	name     string
	serfPort int
	join     []string
	logLevel string
}

// testNode is one daemon with its own root: config dir, lxc path, socket.
type testNode struct {
	t       *testing.T
	opts    nodeOpts
	root    string
	confDir string
	lxcPath string
	sock    string
	cmd     *exec.Cmd
	stderr  *syncBuffer
	exited  chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (n *testNode) configText() string {
	var b strings.Builder
	fmt.Fprintf(&b, "config nuvol 'main'\n")
	fmt.Fprintf(&b, "\toption enabled '1'\n\toption node_name '%s'\n\toption cloud_name 'guifi'\n", n.opts.name)
	fmt.Fprintf(&b, "\toption bind_addr '127.0.0.1'\n\toption bind_port '%d'\n", n.opts.serfPort)
	fmt.Fprintf(&b, "\toption lxc_path '%s'\n\toption socket '%s'\n", n.lxcPath, n.sock)
	lvl := n.opts.logLevel
	if lvl == "" {
		lvl = "debug"
	}
	fmt.Fprintf(&b, "\toption log_level '%s'\n", lvl)
	for _, j := range n.opts.join {
		fmt.Fprintf(&b, "\tlist join '%s'\n", j)
	}
	return b.String()
}

// newNode prepares a root (short path: unix sockets allow 107 bytes) and
// writes its config; start runs the daemon.
func newNode(t *testing.T, o nodeOpts) *testNode {
	t.Helper()
	root, err := os.MkdirTemp("", "nv-"+o.name+"-")
	if err != nil {
		t.Fatal(err)
	}
	n := &testNode{t: t, opts: o, root: root,
		confDir: filepath.Join(root, "etc"), lxcPath: filepath.Join(root, "lxc"), sock: filepath.Join(root, "nuvol.sock")}
	if err := os.MkdirAll(n.confDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(n.confDir, "nuvol"), []byte(n.configText()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.stop(syscall.SIGKILL)
		destroyAll(n.lxcPath)
		if n.stderr != nil && strings.Contains(n.stderr.String(), "DATA RACE") {
			t.Errorf("daemon %s (built with -race) found a data race", o.name)
		}
		if t.Failed() {
			t.Logf("daemon %s log:\n%s", o.name, n.stderr)
		}
		os.RemoveAll(root)
	})
	return n
}

// destroyAll removes every container under lxcPath, running or not, so a
// failed test leaves nothing behind.
func destroyAll(lxcPath string) {
	ents, _ := os.ReadDir(lxcPath)
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			exec.Command("lxc-stop", "-k", "-P", lxcPath, "-n", e.Name()).Run()
			exec.Command("lxc-destroy", "-P", lxcPath, "-n", e.Name()).Run()
		}
	}
}

// spawn starts `nuvol daemon --confdir DIR` with args and does not wait
// for it: n.exited reports its end, n.stderr collects its log.
func (n *testNode) spawn(args ...string) {
	n.t.Helper()
	if n.stderr == nil {
		n.stderr = &syncBuffer{}
	}
	n.cmd = exec.Command(nuvolBin(n.t), append([]string{"daemon", "--confdir", n.confDir}, args...)...)
	n.cmd.Stderr = n.stderr
	n.cmd.SysProcAttr = daemonAttr
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.exited = make(chan error, 1)
	go func(c *exec.Cmd, ch chan error) { ch <- c.Wait() }(n.cmd, n.exited)
}

func (n *testNode) start() {
	n.t.Helper()
	n.spawn("--ubus", "none")
	deadline := time.Now().Add(15 * time.Second)
	for {
		if c, err := api.Dial(n.sock); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err = c.Call(ctx, "status", nil)
			cancel()
			c.Close()
			if err == nil {
				return
			}
		}
		select {
		case err := <-n.exited:
			n.t.Fatalf("daemon %s exited at start: %v\n%s", n.opts.name, err, n.stderr)
		default:
		}
		if time.Now().After(deadline) {
			// Its goroutines tell why.
			n.cmd.Process.Signal(syscall.SIGQUIT)
			time.Sleep(500 * time.Millisecond)
			n.t.Fatalf("daemon %s not serving after 15 s\n%s", n.opts.name, n.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop signals the daemon and waits for it; it returns the exit error.
func (n *testNode) stop(sig syscall.Signal) error {
	if n.cmd == nil || n.cmd.Process == nil {
		return nil
	}
	n.cmd.Process.Signal(sig)
	defer func() { n.cmd = nil }()
	select {
	case err := <-n.exited:
		return err
	case <-time.After(20 * time.Second):
		n.cmd.Process.Kill()
		<-n.exited
		return fmt.Errorf("daemon %s did not exit within 20 s of %v", n.opts.name, sig)
	}
}

// cli runs `nuvol --socket S args...` and returns stdout, stderr and the
// exit status.
func (n *testNode) cli(args ...string) (string, string, int) {
	n.t.Helper()
	cmd := exec.Command(nuvolBin(n.t), append([]string{"--socket", n.sock}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		n.t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// must runs a CLI command that must succeed.
func (n *testNode) must(args ...string) string {
	n.t.Helper()
	out, errs, code := n.cli(args...)
	if code != 0 {
		n.t.Fatalf("nuvol %s: exit %d: %s", strings.Join(args, " "), code, errs)
	}
	return out
}

// json runs a CLI command with --json and decodes its result.
func (n *testNode) json(args ...string) map[string]any {
	n.t.Helper()
	out := n.must(append(args, "--json")...)
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		n.t.Fatalf("nuvol %s: %v: %q", strings.Join(args, " "), err, out)
	}
	return r
}

func (n *testNode) app(name string) map[string]any {
	n.t.Helper()
	for _, a := range n.json("ls")["apps"].([]any) {
		if m := a.(map[string]any); m["name"] == name {
			return m
		}
	}
	return nil
}

// containerPID is the PID of the container's init, from LXC itself.
func (n *testNode) containerPID(name string) string {
	out, _ := exec.Command("lxc-info", "-P", n.lxcPath, "-n", name, "-p", "-H").Output()
	return strings.TrimSpace(string(out))
}

func httpGet(url string) (string, error) {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return string(b), fmt.Errorf("%s: %s", url, resp.Status)
	}
	return string(b), err
}

// eventually retries f until it returns nil or the time is up.
func eventually(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestEndToEnd is the router owner's story on two daemons: install, open,
// stop/start, publish, find it from the other node, reload without a
// restart, survive a bad config, kill -9 and adoption, SIGTERM leaving serf
// with the app still running, and remove.
func TestEndToEnd(t *testing.T) {
	needLXC(t)
	pa, pb := freePort(t), freePort(t)
	a := newNode(t, nodeOpts{name: "alpha", serfPort: pa})
	b := newNode(t, nodeOpts{name: "beta", serfPort: pb, join: []string{fmt.Sprintf("127.0.0.1:%d", pa)}})
	a.start()
	b.start()

	if out := a.must("catalog"); !strings.Contains(out, "static-web") {
		t.Fatalf("catalog: %s", out)
	}
	port := freePort(t)
	out := a.must("install", "static-web", "--name", "web", "--port", fmt.Sprint(port))
	if !strings.Contains(out, "web: running") {
		t.Fatalf("install: %q", out)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	eventually(t, 10*time.Second, "the app's page", func() error {
		_, err := httpGet(url)
		return err
	})
	// A second install with the same name or port is refused with words.
	if _, errs, code := a.cli("install", "static-web", "--name", "web"); code != 1 || !strings.Contains(errs, `"web" is already installed`) {
		t.Errorf("install twice: %d %q", code, errs)
	}
	if _, errs, code := a.cli("install", "nope"); code != 1 || !strings.Contains(errs, `no app "nope"`) {
		t.Errorf("install nope: %d %q", code, errs)
	}
	if app := a.app("web"); app == nil || app["state"] != "running" || app["port"] != float64(port) {
		t.Fatalf("ls: %v", app)
	}

	a.must("stop", "web")
	if app := a.app("web"); app["state"] != "stopped" {
		t.Errorf("after stop: %v", app)
	}
	if _, err := httpGet(url); err == nil {
		t.Error("page still served after stop")
	}
	a.must("start", "web")
	eventually(t, 10*time.Second, "page after start", func() error { _, err := httpGet(url); return err })
	if out := a.must("restart", "web"); !strings.Contains(out, "web: running") {
		t.Errorf("restart: %q", out)
	}
	eventually(t, 10*time.Second, "page after restart", func() error { _, err := httpGet(url); return err })
	a.must("logs", "web", "--lines", "5")

	// Publish on alpha, find it from beta, open it through what search gave.
	a.must("publish", "web")
	var svc map[string]any
	eventually(t, 20*time.Second, "search from beta", func() error {
		for _, s := range b.json("search", "web")["services"].([]any) {
			if m := s.(map[string]any); m["node"] == "alpha" {
				svc = m
				return nil
			}
		}
		return fmt.Errorf("not found; nodes: %s", b.must("nodes"))
	})
	if svc["host"] != "alpha.guifi.local" || svc["software"] != "nuvol" || svc["address"] != "127.0.0.1" {
		t.Errorf("search result %v", svc)
	}
	if _, err := httpGet(fmt.Sprintf("http://%s:%v/", svc["address"], svc["port"])); err != nil {
		t.Errorf("open the searched app: %v", err)
	}
	if app := a.app("web"); app["published"] != true {
		t.Errorf("published: %v", app)
	}

	// SIGHUP with a changed setting: nothing restarts.
	pid := a.containerPID("web")
	if pid == "" {
		t.Fatal("no container pid")
	}
	cfgPath := filepath.Join(a.confDir, "nuvol")
	good, _ := os.ReadFile(cfgPath)
	os.WriteFile(cfgPath, bytes.Replace(good, []byte("'debug'"), []byte("'info'"), 1), 0o644)
	a.cmd.Process.Signal(syscall.SIGHUP)
	time.Sleep(500 * time.Millisecond)
	if st := a.json("status"); st["config_error"] != "" || a.containerPID("web") != pid {
		t.Errorf("after SIGHUP: status %v, pid %s -> %s", st, pid, a.containerPID("web"))
	}

	// A bad config is reported; the last good one stays in force.
	// (re-read: publish wrote the app's section into the file)
	good, _ = os.ReadFile(cfgPath)
	bad := regexp.MustCompile(`option bind_port '\d+'`).ReplaceAll(good, []byte("option bind_port 'eighty'"))
	os.WriteFile(cfgPath, bad, 0o644)
	a.cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, 5*time.Second, "config error in status", func() error {
		if st := a.json("status"); st["config_error"] == "" {
			return fmt.Errorf("no config_error: %v", st)
		}
		return nil
	})
	if app := a.app("web"); app["state"] != "running" || a.containerPID("web") != pid {
		t.Errorf("bad config disturbed the app: %v", app)
	}
	if out := a.must("status"); !strings.Contains(out, "REFUSED") {
		t.Errorf("status does not show the refused config: %s", out)
	}
	os.WriteFile(cfgPath, good, 0o644)
	a.cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, 5*time.Second, "config error cleared", func() error {
		if st := a.json("status"); st["config_error"] != "" {
			return fmt.Errorf("config_error: %v", st["config_error"])
		}
		return nil
	})

	// kill -9, then a new daemon adopts the running container.
	a.stop(syscall.SIGKILL)
	a.start()
	if app := a.app("web"); app["state"] != "running" || a.containerPID("web") != pid {
		t.Errorf("after kill -9: %v, pid %s -> %s", app, pid, a.containerPID("web"))
	}
	time.Sleep(time.Second) // a reconcile pass that would restart it has run
	if a.containerPID("web") != pid {
		t.Errorf("adopted container restarted: pid %s -> %s", pid, a.containerPID("web"))
	}

	// SIGTERM: alpha leaves serf, exits 0, and the app keeps running.
	if err := a.stop(syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM exit: %v", err)
	}
	if a.containerPID("web") != pid {
		t.Error("app stopped with the daemon")
	}
	eventually(t, 15*time.Second, "alpha left, seen from beta", func() error {
		for _, m := range b.json("nodes")["members"].([]any) {
			if mm := m.(map[string]any); mm["name"] == "alpha" && mm["status"] == "alive" {
				return fmt.Errorf("alpha still alive")
			}
		}
		return nil
	})
	a.start()
	a.must("unpublish", "web")
	eventually(t, 20*time.Second, "unpublished, seen from beta", func() error {
		if svcs := b.json("search")["services"].([]any); len(svcs) != 0 {
			return fmt.Errorf("still found: %v", svcs)
		}
		return nil
	})
	// Its section deleted behind nuvol's back (uci delete + reload): the
	// container is reported as an orphan and left running, never deleted.
	pid = a.containerPID("web")
	if err := uci.Update(cfgPath, func(f *uci.File) error { f.DeleteSection("web"); return nil }); err != nil {
		t.Fatal(err)
	}
	a.cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, 10*time.Second, "orphan in ls", func() error {
		if app := a.app("web"); app == nil || app["orphan"] != true {
			return fmt.Errorf("ls: %v", app)
		}
		return nil
	})
	if a.containerPID("web") != pid {
		t.Errorf("orphan container restarted or stopped")
	}
	a.must("remove", "web")
	if app := a.app("web"); app != nil {
		t.Errorf("after remove: %v", app)
	}
	if _, err := os.Stat(filepath.Join(a.lxcPath, "web")); !os.IsNotExist(err) {
		t.Errorf("container dir left: %v", err)
	}
	if _, errs, code := a.cli("start", "web"); code != 1 || !strings.Contains(errs, `no installed app "web"`) {
		t.Errorf("start removed: %d %q", code, errs)
	}
}

// TestDaemonUbus: the daemon on a ubus bus (the test broker): it registers
// nuvol with the table's signature, answers calls with the same JSON as
// the control socket, and registers again after ubusd restarts. Started
// before the broker exists, it runs without ubus and connects later.
func TestDaemonUbus(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir, err := os.MkdirTemp("", "nv-ubus")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	busPath := filepath.Join(dir, "ubus.sock")
	n := newNode(t, nodeOpts{name: "ubusnode", serfPort: freePort(t)})
	n.spawn("--ubus", busPath)
	eventually(t, 10*time.Second, "control socket without ubus", func() error {
		_, errs, code := n.cli("status")
		if code != 0 {
			return fmt.Errorf("%s", errs)
		}
		return nil
	})

	b, err := ubustest.Start(busPath)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var conn *ubus.Conn
	call := func(method string, args map[string]any) (map[string]any, error) {
		if conn == nil {
			c, err := ubus.Dial(busPath)
			if err != nil {
				return nil, err
			}
			conn = c
		}
		r, err := conn.Call(ctx, api.ObjectName, method, args)
		if err != nil && errors.Is(err, ubus.ErrConnectionFailed) {
			conn.Close()
			conn = nil
		}
		return r, err
	}
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	eventually(t, 20*time.Second, "nuvol on ubus", func() error { _, err := call("status", nil); return err })

	objs, err := conn.Lookup(ctx, api.ObjectName)
	if err != nil || len(objs) != 1 || len(objs[0].Methods) != len(api.Spec()) {
		t.Fatalf("lookup: %+v %v", objs, err)
	}
	r, err := call("catalog", map[string]any{"ubus_rpc_session": "abc"})
	if err != nil || len(r["apps"].([]any)) == 0 {
		t.Fatalf("catalog over ubus: %v %v", r, err)
	}
	if _, err := call("start", map[string]any{"name": "ghost"}); !errors.Is(err, ubus.ErrNotFound) {
		t.Errorf("start ghost over ubus: %v", err)
	}
	if _, err := call("install", map[string]any{"app": "static-web", "name": "bad name"}); !errors.Is(err, ubus.ErrInvalidArgument) {
		t.Errorf("install bad name over ubus: %v", err)
	}

	b.Restart()
	conn.Close()
	conn = nil
	eventually(t, 20*time.Second, "nuvol back on ubus after a restart", func() error { _, err := call("list", nil); return err })

	// Events, when containers can run here: install and remove over ubus
	// send nuvol.app with the app's state.
	if !lxcHere() {
		return
	}
	events := make(chan string, 16)
	if err := conn.Listen("nuvol.app", func(ev string, d map[string]any) {
		events <- fmt.Sprintf("%v %v", d["name"], d["state"])
	}); err != nil {
		t.Fatal(err)
	}
	wait := func(want string) {
		t.Helper()
		for {
			select {
			case got := <-events:
				if got == want {
					return
				}
			case <-ctx.Done():
				t.Fatalf("no nuvol.app event %q", want)
			}
		}
	}
	if _, err := call("install", map[string]any{"app": "static-web", "name": "evt", "port": freePort(t)}); err != nil {
		t.Fatalf("install over ubus: %v", err)
	}
	wait("evt running")
	if _, err := call("remove", map[string]any{"name": "evt"}); err != nil {
		t.Fatalf("remove over ubus: %v", err)
	}
	wait("evt removed")
}

// TestBadConfigAtStart: with no good config to fall back on, the daemon
// still serves status (with the error) and refuses app changes in words;
// a SIGHUP after the fix brings it up without a restart.
func TestBadConfigAtStart(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	n := newNode(t, nodeOpts{name: "badstart", serfPort: freePort(t)})
	cfgPath := filepath.Join(n.confDir, "nuvol")
	good, _ := os.ReadFile(cfgPath)
	os.WriteFile(cfgPath, []byte("config nuvol 'main'\n\toption bind_port 'x'\n\toption enabled 'maybe'\n"), 0o644)
	n.spawn("--ubus", "none", "--socket", n.sock)
	eventually(t, 10*time.Second, "status with a bad config", func() error {
		out, errs, code := n.cli("status")
		if code != 0 || !strings.Contains(out, "REFUSED") || !strings.Contains(out, "bind_port") {
			return fmt.Errorf("exit %d: %s%s", code, out, errs)
		}
		return nil
	})
	if _, errs, code := n.cli("install", "static-web"); code != 1 || !strings.Contains(errs, "config is invalid") {
		t.Errorf("install with a bad config: %d %q", code, errs)
	}
	if out := n.must("ls"); !strings.Contains(out, "no apps installed") {
		t.Errorf("ls with a bad config: %q", out)
	}
	os.WriteFile(cfgPath, good, 0o644)
	n.cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, 10*time.Second, "config in force after SIGHUP", func() error {
		st := n.json("status")
		if st["config_error"] != "" || st["node"] != "badstart" {
			return fmt.Errorf("status %v", st)
		}
		return nil
	})
	if err := n.stop(syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM: %v", err)
	}
}

// TestReloadFederation: a SIGHUP that changes serf's own settings rejoins
// on the new port; one that changes nothing else leaves serf alone.
func TestReloadFederation(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	p1, p2 := freePort(t), freePort(t)
	n := newNode(t, nodeOpts{name: "refed", serfPort: p1})
	n.start()
	self := func() string {
		for _, m := range n.json("nodes")["members"].([]any) {
			if mm := m.(map[string]any); mm["name"] == "refed" {
				return fmt.Sprintf("%v/%v", mm["port"], mm["status"])
			}
		}
		return ""
	}
	eventually(t, 10*time.Second, "serf up", func() error {
		if got := self(); got != fmt.Sprintf("%d/alive", p1) {
			return fmt.Errorf("self %q", got)
		}
		return nil
	})
	cfgPath := filepath.Join(n.confDir, "nuvol")
	cfg, _ := os.ReadFile(cfgPath)
	os.WriteFile(cfgPath, bytes.Replace(cfg, []byte(fmt.Sprintf("'%d'", p1)), []byte(fmt.Sprintf("'%d'", p2)), 1), 0o644)
	n.cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, 10*time.Second, "serf on the new port", func() error {
		if got := self(); got != fmt.Sprintf("%d/alive", p2) {
			return fmt.Errorf("self %q", got)
		}
		return nil
	})
	if c := strings.Count(n.stderr.String(), "federation: serf member"); c != 2 {
		t.Errorf("serf started %d times, want 2", c)
	}
	// The old port is free again.
	if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p1)); err != nil {
		t.Errorf("old serf port still held: %v", err)
	} else {
		l.Close()
	}
	cfg, _ = os.ReadFile(cfgPath)
	os.WriteFile(cfgPath, bytes.Replace(cfg, []byte("'debug'"), []byte("'info'"), 1), 0o644)
	n.cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, 5*time.Second, "reload seen", func() error {
		if strings.Count(n.stderr.String(), "reloading") < 2 {
			return fmt.Errorf("no second reload")
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond)
	if c := strings.Count(n.stderr.String(), "federation: serf member"); c != 2 {
		t.Errorf("a log_level change restarted serf (%d starts)", c)
	}
}

// TestReloadCatalog: a catalog directory added to the config shows up in
// `catalog` after a SIGHUP, without a restart, and installs use it.
func TestReloadCatalog(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	n := newNode(t, nodeOpts{name: "recat", serfPort: freePort(t)})
	n.start()
	if out := n.must("catalog"); strings.Contains(out, "my-page") {
		t.Fatalf("my-page before it was added: %s", out)
	}
	dir := filepath.Join(n.root, "catalog")
	os.MkdirAll(dir, 0o755)
	manifest := `{"id": "my-page", "name": "My page", "description": "A local app", "type": "web", "version": "1",
  "source": {"type": "busybox", "applets": ["httpd"]}, "port": 8080, "memory": 16,
  "init": ["httpd", "-f", "-p", "${ADDR}:${PORT}", "-h", "/srv/www"],
  "files": {"/srv/www/index.html": "mine\n"}, "health": {"timeout": 10}}`
	if err := os.WriteFile(filepath.Join(dir, "my-page.json"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(n.confDir, "nuvol")
	if err := uci.Update(cfgPath, func(f *uci.File) error { return f.AddList("main", "catalog", dir) }); err != nil {
		t.Fatal(err)
	}
	n.cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, 10*time.Second, "my-page in the catalog", func() error {
		if out := n.must("catalog"); !strings.Contains(out, "my-page") {
			return fmt.Errorf("catalog: %s", out)
		}
		return nil
	})
	if !lxcHere() {
		return
	}
	port := freePort(t)
	n.must("install", "my-page", "--name", "mine", "--port", fmt.Sprint(port))
	eventually(t, 10*time.Second, "my page served", func() error {
		body, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err == nil && body != "mine\n" {
			err = fmt.Errorf("body %q", body)
		}
		return err
	})
	n.must("remove", "mine")
}
