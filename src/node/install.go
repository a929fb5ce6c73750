package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nuvol-project/nuvol/src/catalog"
	"github.com/nuvol-project/nuvol/src/config"
	"github.com/nuvol-project/nuvol/src/runtime"
	"github.com/nuvol-project/nuvol/src/uci"
)

// stagePrefix names the staging directories of installs under lxc_path.
const stagePrefix = ".nuvol-tmp-"

// setupInit keeps a container up while its setup commands run in it.
var setupInit = []string{"sleep", "86400"}

// Install installs an app from the catalog, all or nothing: it prepares
// the rootfs and LXC config in a staging directory under lxc_path
// (.nuvol-tmp-NAME-*), renames it into place, runs the manifest's setup
// commands inside the container, adds the UCI app section, starts the app
// and waits for its health check. If any step fails, it removes what the
// earlier steps made (container directory, UCI section) and says which
// step failed and why.
func (n *Node) Install(ctx context.Context, req InstallRequest) (AppStatus, error) {
	m, ok := n.catalog().Get(req.App)
	if !ok {
		return AppStatus{}, kindErr(ErrNotFound, "no app %q in the catalog", req.App)
	}
	if err := m.Validate(); err != nil {
		return AppStatus{}, kindErr(ErrInvalid, "%w", err)
	}
	a := config.App{Name: req.Name, App: m.ID, Enabled: true, Port: req.Port, Memory: req.Memory,
		CPUWeight: config.DefaultCPUWeight, Network: config.NetworkHost}
	if a.Name == "" {
		// UCI section names have no '-': static-web installs as static_web.
		a.Name = strings.ReplaceAll(m.ID, "-", "_")
	}
	if a.Port == 0 {
		a.Port = m.Port
	}
	if a.Memory == 0 {
		a.Memory = m.Memory
	}
	if err := config.ValidName(a.Name); err != nil {
		return AppStatus{}, kindErr(ErrInvalid, "%w", err)
	}
	if err := runtime.ValidName(a.Name); err != nil {
		return AppStatus{}, kindErr(ErrInvalid, "%w", err)
	}
	if a.Port < 1 || a.Port > 65535 {
		return AppStatus{}, kindErr(ErrInvalid, "port %d is not a port", a.Port)
	}
	if a.Memory < 4 || a.Memory > 1<<20 {
		return AppStatus{}, kindErr(ErrInvalid, "memory %d MiB: want 4 to 1048576", a.Memory)
	}
	arch := n.o.Prepare.Arch
	if arch == "" {
		arch = catalog.HostArch()
	}
	if !m.RunsOn(arch) {
		return AppStatus{}, kindErr(ErrInvalid, "%s does not run on %s (only %s)", m.ID, arch, strings.Join(m.Arch, ", "))
	}

	// Reserve the name and port, so that two installs cannot race.
	n.mu.Lock()
	err := n.reloadLocked()
	if err == nil {
		err = n.checkFreeLocked(a)
	}
	if err != nil {
		n.mu.Unlock()
		return AppStatus{}, err
	}
	n.installing[a.Name] = a.Port
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.installing, a.Name)
		n.mu.Unlock()
	}()

	start := time.Now()
	if err := n.install(ctx, a, m); err != nil {
		err = fmt.Errorf("install %s (%s): %w", a.Name, m.ID, err)
		n.o.Logf("%v", err)
		return AppStatus{}, err
	}
	n.o.Logf("install %s (%s): done in %s", a.Name, m.ID, time.Since(start).Round(time.Millisecond))

	n.mu.Lock()
	defer n.mu.Unlock()
	n.crashOf(a.Name).started = time.Now()
	if err := n.reconcileLocked(ctx); err != nil {
		n.o.Logf("reconcile: %v", err)
	}
	st := AppStatus{Name: a.Name, App: m.ID, Type: m.Type, State: string(runtime.StateRunning),
		Enabled: true, Port: a.Port, Memory: a.Memory, CPUWeight: a.CPUWeight, Description: m.Name, Network: a.Network}
	if s, err := n.rt.State(ctx, a.Name); err == nil {
		st.State = string(s)
	}
	return st, nil
}

// checkFreeLocked refuses a name or port that is taken.
func (n *Node) checkFreeLocked(a config.App) error {
	if _, busy := n.installing[a.Name]; busy {
		return kindErr(ErrConflict, "%q is being installed", a.Name)
	}
	if _, ok := n.app(a.Name); ok {
		return kindErr(ErrConflict, "an app named %q is already installed", a.Name)
	}
	if _, err := os.Lstat(filepath.Join(n.rt.Path(), a.Name)); err == nil {
		return kindErr(ErrConflict, "%s already exists (a container nuvol does not manage?)", filepath.Join(n.rt.Path(), a.Name))
	}
	if a.Port == n.cfg.Node.BindPort {
		return kindErr(ErrConflict, "port %d is the node's bind_port (serf)", a.Port)
	}
	for _, o := range n.cfg.Apps {
		if n.port(o) == a.Port {
			return kindErr(ErrConflict, "port %d is used by app %q", a.Port, o.Name)
		}
	}
	for name, port := range n.installing {
		if port == a.Port {
			return kindErr(ErrConflict, "port %d is used by app %q (being installed)", a.Port, name)
		}
	}
	if a.Network == "" || a.Network == "host" {
		if err := portFree(n.o.AppAddr, a.Port); err != nil {
			return kindErr(ErrConflict, "port %d is already in use on this router: %v", a.Port, err)
		}
	}
	return nil
}

// install does the work; on error it leaves nothing behind.
//
// The container is built and set up in lxc_path/.nuvol-tmp-NAME-*/NAME:
// a container path of its own, which the runtime's List (and so reconcile)
// never sees. Only a container whose setup succeeded is renamed into
// lxc_path. A power cut before that leaves only the staging directory,
// which New removes.
func (n *Node) install(ctx context.Context, a config.App, m catalog.Manifest) (err error) {
	lxcPath := n.rt.Path()
	if err := os.MkdirAll(lxcPath, 0o755); err != nil {
		return err
	}
	stage, err := os.MkdirTemp(lxcPath, stagePrefix+a.Name+"-")
	if err != nil {
		return fmt.Errorf("staging directory: %w", err)
	}
	staged := filepath.Join(stage, a.Name)
	final := filepath.Join(lxcPath, a.Name)
	var placed, inUCI, undoFailed bool
	defer func() {
		if err == nil {
			return
		}
		// Undo in reverse order. Use a fresh context: ctx may be the
		// reason we are failing.
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if inUCI {
			if e := uci.Update(n.o.ConfigPath, func(f *uci.File) error { config.DeleteApp(f, a.Name); return nil }); e != nil {
				err, undoFailed = fmt.Errorf("%w (and removing its config section failed: %v)", err, e), true
			}
		}
		if placed {
			if e := n.rt.Destroy(cctx, a.Name); e != nil && !errors.Is(e, runtime.ErrNotFound) {
				n.o.Logf("install %s: undo: %v", a.Name, e)
			}
			if e := os.RemoveAll(final); e != nil {
				err, undoFailed = fmt.Errorf("%w (and removing %s failed: %v)", err, final, e), true
			}
		}
		if e := n.removeStage(cctx, stage); e != nil {
			err, undoFailed = fmt.Errorf("%w (and removing %s failed: %v)", err, stage, e), true
		}
		if !undoFailed {
			err = fmt.Errorf("%w; nothing was left behind", err)
		}
	}()

	prep := n.o.Prepare
	if prep.ImageServer == "" {
		n.mu.Lock()
		prep.ImageServer = n.cfg.Node.ImageServer // option image_server
		n.mu.Unlock()
	}
	if err := catalog.Prepare(ctx, m, staged, prep); err != nil {
		return fmt.Errorf("preparing the rootfs: %w", err)
	}
	spec := n.spec(a, m)
	if len(m.Setup) > 0 {
		if err := n.setup(ctx, stage, a, m, spec); err != nil {
			return err
		}
	}
	// The config for its place in lxc_path (the runtime writes paths for
	// Path()/NAME whatever directory it is given).
	if err := n.rt.Create(ctx, staged, spec); err != nil {
		return fmt.Errorf("writing the container config: %w", err)
	}
	if err := os.Rename(staged, final); err != nil {
		return fmt.Errorf("moving the container into place: %w", err)
	}
	placed = true
	if err := os.RemoveAll(stage); err != nil {
		return fmt.Errorf("removing the staging directory: %w", err)
	}
	if err := uci.Update(n.o.ConfigPath, func(f *uci.File) error { return config.PutApp(f, a) }); err != nil {
		return fmt.Errorf("adding the app to %s: %w", n.o.ConfigPath, err)
	}
	inUCI = true
	if err := n.rt.Start(ctx, a.Name); err != nil {
		return fmt.Errorf("starting: %w", err)
	}
	return n.waitHealthy(ctx, a, m)
}

// stagingRuntime is a runtime over a staging directory.
func (n *Node) stagingRuntime(stage string) (runtime.Runtime, error) {
	if n.o.StagingRuntime != nil {
		return n.o.StagingRuntime(stage)
	}
	return runtime.New("", stage)
}

// removeStage kills any container still running in a staging directory
// (a setup interrupted by a crash) and removes the directory.
func (n *Node) removeStage(ctx context.Context, stage string) error {
	if entries, err := os.ReadDir(stage); err == nil && len(entries) > 0 {
		if srt, err := n.stagingRuntime(stage); err == nil {
			for _, e := range entries {
				if e.IsDir() {
					srt.Destroy(ctx, e.Name()) // best effort; RemoveAll follows
				}
			}
		}
	}
	return os.RemoveAll(stage)
}

// setup runs the manifest's setup commands, once, inside the staged
// container (started with an init that only sleeps), then stops it.
func (n *Node) setup(ctx context.Context, stage string, a config.App, m catalog.Manifest, spec runtime.Spec) error {
	srt, err := n.stagingRuntime(stage)
	if err != nil {
		return fmt.Errorf("setup runtime: %w", err)
	}
	first := spec
	first.Init = setupInit
	if err := srt.Create(ctx, filepath.Join(stage, a.Name), first); err != nil {
		return fmt.Errorf("writing the setup container config: %w", err)
	}
	if err := srt.Start(ctx, a.Name); err != nil {
		return fmt.Errorf("starting for setup: %w", err)
	}
	v := catalog.Vars{Port: a.Port, Addr: n.o.AppAddr, Name: a.Name, Memory: a.Memory}
	for i, cmd := range m.Setup {
		argv := v.ExpandAll(cmd)
		out, err := srt.Exec(ctx, a.Name, argv)
		if err != nil {
			return fmt.Errorf("setup command %d %q failed: %w%s", i+1, strings.Join(argv, " "), err, tail(out))
		}
	}
	if err := srt.Stop(ctx, a.Name, n.o.StopTimeout); err != nil {
		return fmt.Errorf("stopping after setup: %w", err)
	}
	return nil
}

func tail(out []byte) string {
	s := strings.TrimSpace(string(out))
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return ": " + strings.Join(lines, " | ")
}

// waitHealthy waits until the app's health port answers, failing early
// when the container stops.
func (n *Node) waitHealthy(ctx context.Context, a config.App, m catalog.Manifest) error {
	timeout := time.Duration(m.Health.Timeout) * time.Second
	if timeout == 0 {
		timeout = catalog.DefaultHealthTimeout * time.Second
	}
	port := m.HealthPort(a.Port)
	host := n.o.AppAddr
	if host == "" || host == "0.0.0.0" {
		host = "127.0.0.1"
	}
	deadline := time.Now().Add(timeout)
	for i := 0; ; i++ {
		if a.Network == "bridge" {
			if info, err := n.rt.Info(ctx, a.Name); err == nil && len(info.Addresses) > 0 {
				host = info.Addresses[0]
			}
		}
		addr := net.JoinHostPort(host, strconv.Itoa(port))
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if i%5 == 4 {
			if st, err := n.rt.State(ctx, a.Name); err == nil && st == runtime.StateStopped {
				log, _ := n.rt.Log(a.Name, 5)
				return fmt.Errorf("the app exited before answering on port %d: %s", port, strings.Join(log, " | "))
			}
		}
		if time.Now().After(deadline) {
			log, _ := n.rt.Log(a.Name, 5)
			return kindErr(ErrTimeout, "health check: nothing answered on %s within %s; console: %s", addr, timeout, strings.Join(log, " | "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
