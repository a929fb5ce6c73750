package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nuvol-project/nuvol/src/catalog"
	"github.com/nuvol-project/nuvol/src/runtime"
	"github.com/nuvol-project/nuvol/src/runtime/runtimetest"
	"github.com/nuvol-project/nuvol/src/uci"
)

// recorder is a Publisher that remembers every call.
type recorder struct {
	mu    sync.Mutex
	calls [][]PublishedApp
}

func (r *recorder) Publish(apps []PublishedApp) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, append([]PublishedApp(nil), apps...))
}

func (r *recorder) last() []PublishedApp {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.calls) == 0 {
		return nil
	}
	return r.calls[len(r.calls)-1]
}

func (r *recorder) names() []string {
	var out []string
	for _, a := range r.last() {
		out = append(out, a.Name)
	}
	return out
}

type env struct {
	t       testing.TB
	node    *Node
	rt      runtime.Runtime
	pub     *recorder
	cfgPath string
	lxcPath string
	suffix  string
}

type envOpt func(o *Options)

// newEnv makes a Node over a fresh lxc_path and config file, with the
// default catalog plus the given test manifests. Apps bind 127.0.0.1.
func newEnv(t testing.TB, extra []catalog.Manifest, opts ...envOpt) *env {
	runtimetest.Skip(t)
	e := &env{t: t, pub: &recorder{}, suffix: runtimetest.Suffix()}
	e.lxcPath = filepath.Join(t.TempDir(), "lxc")
	e.cfgPath = filepath.Join(t.TempDir(), "nuvol")
	// NUVOL_TEST_BACKEND=liblxc (with -tags liblxc) runs these tests on
	// the cgo backend.
	rt, err := runtime.New(os.Getenv("NUVOL_TEST_BACKEND"), e.lxcPath)
	if err != nil {
		t.Fatal(err)
	}
	e.rt = rt
	cat := catalogWith(t, extra)
	o := Options{
		ConfigPath: e.cfgPath, Runtime: rt, Catalog: cat, Publisher: e.pub,
		AppAddr: "127.0.0.1", StopTimeout: 5 * time.Second,
		Prepare: catalog.PrepareOptions{Busybox: runtimetest.HostBusybox, ResolvConf: "-"},
		Logf:    t.Logf,
	}
	for _, f := range opts {
		f(&o)
	}
	n, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.node = n
	t.Cleanup(func() {
		// Never leave a container running behind a test.
		names, _ := rt.List(context.Background())
		for _, c := range names {
			rt.Destroy(context.Background(), c)
		}
	})
	return e
}

func catalogWith(t testing.TB, extra []catalog.Manifest) *catalog.Catalog {
	dir := t.TempDir()
	for _, m := range extra {
		b, _ := json.Marshal(m)
		os.WriteFile(filepath.Join(dir, m.ID+".json"), b, 0o644)
	}
	c, err := catalog.Load([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) name(s string) string { return s + e.suffix }

func freePort(t testing.TB) int { return runtimetest.FreePort(t) }

// busyboxApp is a test manifest on the busybox source.
func busyboxApp(id string, init ...string) catalog.Manifest {
	return catalog.Manifest{
		ID: id, Name: "Test " + id, Type: "test", Version: "1",
		Source: catalog.Source{Type: catalog.SourceBusybox, Applets: []string{"httpd"}},
		Port:   8080, Memory: 16, Init: init,
		Files:  map[string]string{"/srv/www/index.html": "hello from " + id},
		Health: catalog.Health{Timeout: 10},
	}
}

// assertClean checks that a failed install left nothing behind.
func (e *env) assertClean(name string) {
	e.t.Helper()
	entries, _ := os.ReadDir(e.lxcPath)
	for _, d := range entries {
		e.t.Errorf("left behind in lxc_path: %s", d.Name())
	}
	if f, err := uci.Load(e.cfgPath); err == nil && f.Section(name) != nil {
		e.t.Errorf("UCI section %q left behind", name)
	}
}

func (e *env) uciGet(name, option string) string {
	f, err := uci.Load(e.cfgPath)
	if err != nil {
		e.t.Fatal(err)
	}
	v, _ := f.Get(name, option)
	return v
}

func (e *env) state(name string) runtime.State {
	st, err := e.rt.State(context.Background(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

func httpGet(t *testing.T, port int, path string) string {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestInstallLifecycle(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	name, port := e.name("web"), freePort(t)
	st, err := e.node.Install(ctx, InstallRequest{App: "static-web", Name: name, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	if st.State != "running" || st.Port != port || st.Type != "web" {
		t.Errorf("status %+v", st)
	}
	if body := httpGet(t, port, "/"); !strings.Contains(body, "It works") {
		t.Errorf("page %q", body)
	}
	if e.uciGet(name, "app") != "static-web" || e.uciGet(name, "port") != fmt.Sprint(port) {
		t.Errorf("UCI section: app %q port %q", e.uciGet(name, "app"), e.uciGet(name, "port"))
	}
	if len(e.pub.last()) != 0 {
		t.Errorf("published before publish=1: %v", e.pub.last())
	}

	if err := e.node.SetPublish(ctx, name, true); err != nil {
		t.Fatal(err)
	}
	if got := e.pub.last(); len(got) != 1 || got[0] != (PublishedApp{Name: name, Type: "web", Description: "Static web page", Port: port}) {
		t.Errorf("published %+v", got)
	}
	if e.uciGet(name, "publish") != "1" {
		t.Error("publish not written")
	}

	if err := e.node.Stop(ctx, name); err != nil {
		t.Fatal(err)
	}
	if e.state(name) != runtime.StateStopped || e.uciGet(name, "enabled") != "0" {
		t.Errorf("after stop: state %s enabled %q", e.state(name), e.uciGet(name, "enabled"))
	}
	if len(e.pub.last()) != 0 {
		t.Errorf("a stopped app is still published: %v", e.pub.last())
	}
	// Disabled stays stopped through reconciles.
	e.node.Reconcile(ctx)
	if e.state(name) != runtime.StateStopped {
		t.Error("reconcile started a disabled app")
	}

	if err := e.node.Start(ctx, name); err != nil {
		t.Fatal(err)
	}
	if e.state(name) != runtime.StateRunning || e.uciGet(name, "enabled") != "1" {
		t.Errorf("after start: state %s enabled %q", e.state(name), e.uciGet(name, "enabled"))
	}
	if got := e.node.Published(); len(got) != 1 || got[0] != name {
		t.Errorf("published after start: %v", got)
	}
	if err := e.node.Restart(ctx, name); err != nil {
		t.Fatal(err)
	}
	list, err := e.node.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].State != "running" || !list[0].Published || list[0].MemoryUsed == 0 {
		t.Errorf("list %+v", list)
	}
	if lines, err := e.node.Logs(name, 10); err != nil {
		t.Errorf("logs: %v %q", err, lines)
	}

	if err := e.node.Remove(ctx, name); err != nil {
		t.Fatal(err)
	}
	e.assertClean(name)
	if len(e.pub.last()) != 0 {
		t.Errorf("removed app still published: %v", e.pub.last())
	}
	if err := e.node.Remove(ctx, name); !errors.Is(err, ErrNotFound) {
		t.Errorf("second remove: %v", err)
	}
	for _, f := range []func(context.Context, string) error{e.node.Start, e.node.Stop, e.node.Restart} {
		if err := f(ctx, name); !errors.Is(err, ErrNotFound) {
			t.Errorf("on a removed app: %v", err)
		}
	}
}

// TestHostNetworkUntouched installs, starts, stops and removes a host-mode
// app and checks that the host's addresses and routes are exactly as
// before.
func TestHostNetworkUntouched(t *testing.T) {
	e := newEnv(t, nil)
	snap := func() string {
		a, _ := exec.Command("ip", "-o", "addr", "show").Output()
		r, _ := exec.Command("ip", "route", "show", "table", "all").Output()
		return string(a) + string(r)
	}
	before := snap()
	ctx := context.Background()
	name := e.name("net")
	if _, err := e.node.Install(ctx, InstallRequest{App: "file-share", Name: name, Port: freePort(t)}); err != nil {
		t.Fatal(err)
	}
	e.node.Stop(ctx, name)
	e.node.Start(ctx, name)
	if err := e.node.Remove(ctx, name); err != nil {
		t.Fatal(err)
	}
	if after := snap(); after != before {
		t.Fatalf("host network changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestInstallSetup(t *testing.T) {
	m := busyboxApp("setup-app", "httpd", "-f", "-p", "${ADDR}:${PORT}", "-h", "/srv/www")
	m.Setup = [][]string{{"sh", "-c", "echo configured for ${NAME} on ${PORT} > /srv/www/setup.txt"}}
	e := newEnv(t, []catalog.Manifest{m})
	name, port := e.name("s"), freePort(t)
	if _, err := e.node.Install(context.Background(), InstallRequest{App: m.ID, Name: name, Port: port}); err != nil {
		t.Fatal(err)
	}
	if got := httpGet(t, port, "/setup.txt"); got != fmt.Sprintf("configured for %s on %d\n", name, port) {
		t.Errorf("setup output %q", got)
	}
}

func TestInstallFailuresLeaveNothing(t *testing.T) {
	ctx := context.Background()
	rootfsTar := func() []byte {
		// a real tarball of a busybox rootfs, served locally
		dir := t.TempDir()
		os.Mkdir(filepath.Join(dir, "rootfs"), 0o755)
		if err := catalog.BuildBusyboxRootfs(filepath.Join(dir, "rootfs"), runtimetest.HostBusybox, nil); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("tar", "-C", filepath.Join(dir, "rootfs"), "-czf", "-", ".").Output()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/rootfs.tar.gz" {
			w.Write(rootfsTar)
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	tarball := func(id, path, sha string) catalog.Manifest {
		m := busyboxApp(id, "httpd", "-f", "-p", "${ADDR}:${PORT}", "-h", "/srv/www")
		m.Source = catalog.Source{Type: catalog.SourceTarball, URL: srv.URL + path, SHA256: sha}
		return m
	}
	good := sha256hex(rootfsTar)
	crash := busyboxApp("crasher", "sh", "-c", "echo crashing; exit 3")
	badInit := busyboxApp("bad-init", "no-such-program", "--port", "${PORT}")
	silent := busyboxApp("silent", "sleep", "1000")
	silent.Health.Timeout = 2
	badSetup := busyboxApp("bad-setup", "httpd", "-f", "-p", "${ADDR}:${PORT}", "-h", "/srv/www")
	badSetup.Setup = [][]string{{"sh", "-c", "echo no such package >&2; exit 1"}}
	otherArch := busyboxApp("other-arch", "true")
	otherArch.Arch = []string{"s390x"}
	if catalog.HostArch() == "s390x" {
		otherArch.Arch = []string{"riscv64"}
	}
	extra := []catalog.Manifest{
		tarball("tar-ok", "/rootfs.tar.gz", good),
		tarball("tar-404", "/missing.tar.gz", good),
		tarball("tar-badsum", "/rootfs.tar.gz", strings.Repeat("0", 64)),
		crash, badInit, silent, badSetup, otherArch,
	}
	e := newEnv(t, extra)

	// An installed app, for the conflicts.
	takenPort := freePort(t)
	if _, err := e.node.Install(ctx, InstallRequest{App: "tar-ok", Name: e.name("ok"), Port: takenPort}); err != nil {
		t.Fatal(err)
	}
	hostListener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hostListener.Close()
	hostPort := hostListener.Addr().(*net.TCPAddr).Port

	tests := []struct {
		name string
		req  InstallRequest
		err  error
		msg  string
	}{
		{"unknown app", InstallRequest{App: "no-such-app"}, ErrNotFound, `no app "no-such-app"`},
		{"bad name", InstallRequest{App: "static-web", Name: "bad name!"}, ErrInvalid, "bad name!"},
		{"bad port", InstallRequest{App: "static-web", Port: 70000}, ErrInvalid, "70000"},
		{"name taken", InstallRequest{App: "static-web", Name: e.name("ok"), Port: freePort(t)}, ErrConflict, "already installed"},
		{"port used by an app", InstallRequest{App: "static-web", Port: takenPort}, ErrConflict, fmt.Sprintf("port %d is used by app %q", takenPort, e.name("ok"))},
		{"port used on the host", InstallRequest{App: "static-web", Port: hostPort}, ErrConflict, "in use on this router"},
		{"wrong architecture", InstallRequest{App: "other-arch"}, ErrInvalid, "does not run on"},
		{"download", InstallRequest{App: "tar-404", Port: freePort(t)}, catalog.ErrDownload, "404"},
		{"checksum", InstallRequest{App: "tar-badsum", Port: freePort(t)}, catalog.ErrChecksum, "sha256 mismatch"},
		{"app exits", InstallRequest{App: "crasher", Port: freePort(t)}, nil, "exited before answering"},
		{"init not in the rootfs", InstallRequest{App: "bad-init", Port: freePort(t)}, nil, "no-such-program"},
		{"health timeout", InstallRequest{App: "silent", Port: freePort(t)}, ErrTimeout, "nothing answered"},
		{"setup fails", InstallRequest{App: "bad-setup", Port: freePort(t)}, nil, "no such package"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.req.Name == "" && tt.err != ErrInvalid {
				tt.req.Name = e.name(strings.ReplaceAll(tt.name, " ", "")[:5])
			}
			_, err := e.node.Install(ctx, tt.req)
			if err == nil || (tt.err != nil && !errors.Is(err, tt.err)) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want %v containing %q", err, tt.err, tt.msg)
			}
			t.Logf("%s: %v", tt.name, err)
			entries, _ := os.ReadDir(e.lxcPath)
			for _, d := range entries {
				if d.Name() != e.name("ok") {
					t.Errorf("left behind in lxc_path: %s", d.Name())
				}
			}
			if f, err := uci.Load(e.cfgPath); err == nil {
				if n := len(f.SectionsByType("app")); n != 1 {
					t.Errorf("%d app sections, want 1", n)
				}
			}
		})
	}
}

// A full disk: lxc_path on a 1 MiB tmpfs cannot even hold busybox.
func TestInstallDiskFull(t *testing.T) {
	runtimetest.Skip(t)
	e := newEnv(t, nil)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "nuvol-test", e.lxcPath).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	defer exec.Command("umount", e.lxcPath).Run()
	name := e.name("full")
	_, err := e.node.Install(context.Background(), InstallRequest{App: "static-web", Name: name, Port: freePort(t)})
	if err == nil || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("err = %v", err)
	}
	t.Logf("disk full: %v", err)
	e.assertClean(name)
}

func sha256hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// Two clicks at once on the same name: one installs, the other is refused
// and leaves the first alone.
func TestConcurrentInstalls(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	name := e.name("twice")
	errs := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() {
			_, err := e.node.Install(ctx, InstallRequest{App: "static-web", Name: name, Port: freePort(t)})
			errs <- err
		}()
	}
	var ok, conflict int
	for i := 0; i < 2; i++ {
		switch err := <-errs; {
		case err == nil:
			ok++
		case errors.Is(err, ErrConflict):
			conflict++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 || conflict != 1 {
		t.Fatalf("%d installed, %d refused", ok, conflict)
	}
	if e.state(name) != runtime.StateRunning {
		t.Errorf("state %s", e.state(name))
	}
	list, _ := e.node.List(ctx)
	if len(list) != 1 {
		t.Errorf("list %+v", list)
	}
}

func TestBackoffSchedule(t *testing.T) {
	n := &Node{o: Options{Backoff: 10 * time.Second, MaxBackoff: 5 * time.Minute}}
	want := []time.Duration{0, 0, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 5 * time.Minute, 5 * time.Minute}
	for f, w := range want {
		if got := n.backoff(f); got != w {
			t.Errorf("backoff(%d) = %s, want %s", f, got, w)
		}
	}
	for _, f := range []int{33, 40, 64, 100, 1 << 30} {
		if got := n.backoff(f); got != 5*time.Minute {
			t.Errorf("backoff(%d) = %s", f, got)
		}
	}
}
