package node

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nuvol-project/nuvol/src/catalog"
	"github.com/nuvol-project/nuvol/src/runtime"
	"github.com/nuvol-project/nuvol/src/runtime/runtimetest"
	"github.com/nuvol-project/nuvol/src/uci"
)

func (e *env) uciSet(name, option, value string) {
	e.t.Helper()
	// What `uci set nuvol.NAME.OPTION=VALUE; uci commit` does.
	if err := uci.Update(e.cfgPath, func(f *uci.File) error { return f.Set(name, option, value) }); err != nil {
		e.t.Fatal(err)
	}
}

func TestReconcile(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	web, share := e.name("web"), e.name("share")
	webPort, sharePort := freePort(t), freePort(t)
	if _, err := e.node.Install(ctx, InstallRequest{App: "static-web", Name: web, Port: webPort}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.node.Install(ctx, InstallRequest{App: "file-share", Name: share, Port: sharePort}); err != nil {
		t.Fatal(err)
	}
	e.uciSet(web, "publish", "1")
	e.uciSet(share, "publish", "1")
	if err := e.node.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.pub.names(); !slices.Equal(got, sortStrings(web, share)) {
		t.Errorf("published %v", got)
	}

	t.Run("enabled and stopped behind nuvol's back is started", func(t *testing.T) {
		if err := e.rt.Stop(ctx, web, time.Second); err != nil {
			t.Fatal(err)
		}
		if err := e.node.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
		if e.state(web) != runtime.StateRunning {
			t.Fatalf("state %s", e.state(web))
		}
	})
	t.Run("disabled in UCI is stopped and unpublished", func(t *testing.T) {
		e.uciSet(share, "enabled", "0")
		e.node.Reload(nil)
		if err := e.node.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
		if e.state(share) != runtime.StateStopped {
			t.Fatalf("state %s", e.state(share))
		}
		if got := e.pub.names(); !slices.Equal(got, []string{web}) {
			t.Errorf("published %v", got)
		}
	})
	t.Run("port changed in UCI applies at the next start", func(t *testing.T) {
		newPort := freePort(t)
		e.uciSet(share, "port", itoa(newPort))
		e.uciSet(share, "enabled", "1")
		if err := e.node.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
		waitPort(t, newPort)
	})
	t.Run("a container without a section is reported, never deleted", func(t *testing.T) {
		orphan := e.name("orphan")
		runtimetest.Create(t, e.rt, runtime.Spec{Name: orphan, Init: []string{"sleep", "1000"}})
		if err := e.rt.Start(ctx, orphan); err != nil {
			t.Fatal(err)
		}
		if err := e.node.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
		if got := e.node.Orphans(); !slices.Equal(got, []string{orphan}) {
			t.Errorf("orphans %v", got)
		}
		list, _ := e.node.List(ctx)
		found := false
		for _, s := range list {
			if s.Name == orphan {
				found = s.Orphan && s.State == "running"
			}
		}
		if !found {
			t.Errorf("list does not report the orphan: %+v", list)
		}
		if e.state(orphan) != runtime.StateRunning {
			t.Error("orphan was stopped")
		}
		if slices.Contains(e.pub.names(), orphan) {
			t.Error("orphan published")
		}
	})
	t.Run("a new daemon adopts running containers without restarting them", func(t *testing.T) {
		before, err := e.rt.Info(ctx, web)
		if err != nil {
			t.Fatal(err)
		}
		pub := &recorder{}
		n2, err := New(Options{ConfigPath: e.cfgPath, Runtime: e.rt, Catalog: e.node.o.Catalog, Publisher: pub, AppAddr: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		if err := n2.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
		after, _ := e.rt.Info(ctx, web)
		if after.PID != before.PID || after.State != runtime.StateRunning {
			t.Errorf("pid %d -> %d, state %s", before.PID, after.PID, after.State)
		}
		if got := pub.names(); !slices.Contains(got, web) {
			t.Errorf("new daemon publishes %v", got)
		}
	})
	t.Run("a broken config keeps the last good one", func(t *testing.T) {
		good, _ := os.ReadFile(e.cfgPath)
		defer os.WriteFile(e.cfgPath, good, 0o600)
		os.WriteFile(e.cfgPath, append(append([]byte{}, good...), "\nconfig app 'x\n"...), 0o600)
		e.node.Reconcile(ctx)
		if e.node.ConfigError() == nil {
			t.Error("no config error reported")
		}
		if e.state(web) != runtime.StateRunning {
			t.Error("apps stopped on a broken config")
		}
	})
}

func TestBackoff(t *testing.T) {
	// Starts, answers its health check, then dies after a second.
	m := busyboxApp("flaky", "sh", "-c", "httpd -p ${ADDR}:${PORT} -h /srv/www; sleep 1; exit 1")
	e := newEnv(t, []catalog.Manifest{m}, func(o *Options) { o.Backoff, o.MaxBackoff = time.Hour, 2*time.Hour })
	ctx := context.Background()
	name := e.name("flaky")
	if _, err := e.node.Install(ctx, InstallRequest{App: "flaky", Name: name, Port: freePort(t)}); err != nil {
		t.Fatal(err)
	}
	runtimetest.WaitState(t, e.rt, name, runtime.StateStopped)
	e.node.Reconcile(ctx) // first crash: restarted at once
	if st := e.state(name); st != runtime.StateRunning {
		t.Fatalf("not restarted after its first crash: %s", st)
	}
	runtimetest.WaitState(t, e.rt, name, runtime.StateStopped)
	e.node.Reconcile(ctx) // second crash in a row: backs off
	e.node.Reconcile(ctx)
	if st := e.state(name); st != runtime.StateStopped {
		t.Fatalf("restarted during backoff: %s", st)
	}
	list, _ := e.node.List(ctx)
	if len(list) != 1 || !strings.Contains(list[0].Error, "exited") || time.Until(list[0].Backoff) < 50*time.Minute {
		t.Fatalf("list %+v", list)
	}
	// A deliberate start clears the backoff.
	if err := e.node.Start(ctx, name); err != nil {
		t.Fatal(err)
	}
	if st := e.state(name); st != runtime.StateRunning {
		t.Errorf("state %s after start", st)
	}
}

func TestRun(t *testing.T) {
	e := newEnv(t, nil, func(o *Options) { o.Interval = 200 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	name := e.name("run")
	if _, err := e.node.Install(context.Background(), InstallRequest{App: "static-web", Name: name, Port: freePort(t)}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- e.node.Run(ctx) }()
	defer func() { cancel(); <-done }()
	e.rt.Stop(context.Background(), name, time.Second)
	runtimetest.WaitState(t, e.rt, name, runtime.StateRunning) // the timer brought it back
}

func sortStrings(s ...string) []string {
	slices.Sort(s)
	return s
}

func itoa(n int) string { return strconv.Itoa(n) }

func dial(port int) (net.Conn, error) {
	return net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
}

func waitPort(t *testing.T, port int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := dial(port); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %d", port)
}

func TestStaleStagingRemoved(t *testing.T) {
	e := newEnv(t, nil)
	// A crash during setup: the staged container still runs its setup init.
	stage := filepath.Join(e.lxcPath, ".nuvol-tmp-web-123")
	srt, err := runtime.New("", stage)
	if err != nil {
		t.Fatal(err)
	}
	staged := e.name("web")
	runtimetest.Create(t, srt, runtime.Spec{Name: staged, Init: []string{"sleep", "1000"}})
	if err := srt.Start(context.Background(), staged); err != nil {
		t.Fatal(err)
	}
	info, err := srt.Info(context.Background(), staged)
	if err != nil || info.PID == 0 {
		t.Fatalf("staged container info %+v %v", info, err)
	}
	keep := filepath.Join(e.lxcPath, "other")
	os.MkdirAll(keep, 0o755)
	if _, err := New(e.node.o); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stage); err == nil {
		t.Error("stale staging directory kept")
	}
	if _, err := srt.State(context.Background(), staged); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("staged container: %v", err)
	}
	if _, err := os.Stat(filepath.Join("/proc", itoa(info.PID))); err == nil {
		t.Errorf("the staged container's init (pid %d) still runs", info.PID)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Error("removed a directory that is not nuvol's staging")
	}
}

// After a reboot no container runs; a new daemon starts exactly the apps
// UCI has enabled, on the port UCI (or, without one, the catalog) gives.
func TestReboot(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	on, off := e.name("on"), e.name("off")
	onPort := freePort(t)
	if _, err := e.node.Install(ctx, InstallRequest{App: "static-web", Name: on, Port: onPort}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.node.Install(ctx, InstallRequest{App: "file-share", Name: off, Port: freePort(t)}); err != nil {
		t.Fatal(err)
	}
	if err := e.node.SetPublish(ctx, on, true); err != nil {
		t.Fatal(err)
	}
	if err := e.node.Stop(ctx, off); err != nil {
		t.Fatal(err)
	}
	// The power goes.
	for _, c := range []string{on, off} {
		if err := e.rt.Stop(ctx, c, 0); err != nil {
			t.Fatal(err)
		}
	}
	pub := &recorder{}
	o := e.node.o
	o.Publisher = pub
	n2, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := n2.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if e.state(on) != runtime.StateRunning || e.state(off) != runtime.StateStopped {
		t.Fatalf("after reboot: %s %s, %s %s", on, e.state(on), off, e.state(off))
	}
	waitPort(t, onPort)
	if got := pub.names(); !slices.Equal(got, []string{on}) {
		t.Errorf("published after reboot: %v", got)
	}
}

// An app section without a port uses the catalog's.
func TestCatalogPort(t *testing.T) {
	e := newEnv(t, nil)
	name := e.name("dflt")
	if err := uci.Update(e.cfgPath, func(f *uci.File) error {
		if _, err := f.AddSection("app", name); err != nil {
			return err
		}
		return f.Set(name, "app", "static-web")
	}); err != nil {
		t.Fatal(err)
	}
	e.node.Reconcile(context.Background())
	list, err := e.node.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Port != 8080 || list[0].State != StateMissing {
		t.Errorf("list %+v", list)
	}
}
