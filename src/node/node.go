// Package node reconciles the apps that /etc/config/nuvol asks for with
// the containers LXC runs, installs and removes apps, and tells the
// federation which of them to publish.
//
// UCI is the desired state and LXC the actual state: the Node keeps no
// copy of either on disk. It only remembers, in memory, what it needs to
// back off from an app that keeps crashing and what it last published.
package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/nuvol-project/nuvol/src/catalog"
	"github.com/nuvol-project/nuvol/src/config"
	"github.com/nuvol-project/nuvol/src/runtime"
	"github.com/nuvol-project/nuvol/src/uci"
)

// Errors the api package maps to ubus statuses.
var (
	ErrNotFound = errors.New("not found")              // NOT_FOUND
	ErrInvalid  = errors.New("invalid argument")       // INVALID_ARGUMENT
	ErrConflict = errors.New("conflict")               // port in use, name taken
	ErrTimeout  = errors.New("health check timed out") // TIMEOUT
)

// kindError is an error of one of the kinds above whose message is just
// the words that explain it ("port 80 is used by app \"web\"").
type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

func kindErr(kind error, format string, args ...any) error {
	return &kindError{kind, fmt.Errorf(format, args...)}
}

// Publisher receives, after every reconcile, exactly the apps that are
// enabled, running and marked publish.
type Publisher interface {
	Publish(apps []PublishedApp)
}

// PublishedApp is one app as the federation announces it.
type PublishedApp struct {
	Name        string
	Type        string // Cloudy service type, from the catalog
	Description string
	Port        int
}

// Options configures a Node.
type Options struct {
	ConfigPath string // /etc/config/nuvol
	Runtime    runtime.Runtime
	Catalog    *catalog.Catalog
	Publisher  Publisher // may be nil
	Logf       func(format string, args ...any)

	// Prepare says where rootfs come from (image server, HTTP client,
	// host busybox). Its Logf defaults to Logf.
	Prepare catalog.PrepareOptions
	// AppAddr is the address apps bind (${ADDR} in manifests): "" means
	// 0.0.0.0, every address of the router. Tests use 127.0.0.1.
	AppAddr string
	// Interval is the safety-net reconcile period; 0 means 30 s.
	Interval time.Duration
	// StopTimeout is how long a stop waits before killing; 0 means 10 s.
	StopTimeout time.Duration
	// Backoff is the first delay before restarting an app that crashed;
	// it doubles with each crash up to MaxBackoff. 0 means 10 s and 5 min.
	Backoff, MaxBackoff time.Duration
	// StableAfter is how long an app must run before a crash no longer
	// counts against it; 0 means 60 s.
	StableAfter time.Duration
	// StagingRuntime returns a runtime over a staging directory, where an
	// install runs its setup commands before the container is moved into
	// lxc_path. nil means runtime.New("", dir) (the lxc-* tools).
	StagingRuntime func(dir string) (runtime.Runtime, error)
	// OnState, if set, is called when an app's state changes (for the
	// nuvol.app ubus event).
	OnState func(name string, state string)
}

// InstallRequest is one click in the catalog.
type InstallRequest struct {
	App    string // catalog id
	Name   string // container and UCI section name; "" = the app id with '_' for '-'
	Port   int    // 0 = the manifest's
	Memory int    // MiB; 0 = the manifest's
}

// AppStatus is one app (or unknown container) as List reports it.
type AppStatus struct {
	Name        string
	App         string // catalog id; "" for an orphan container
	Type        string
	State       string // runtime state, or "missing" (no container), "installing"
	Enabled     bool
	Publish     bool
	Published   bool
	Port        int
	Memory      int   // limit, MiB
	MemoryUsed  int64 // bytes
	CPUWeight   int
	Description string
	Network     string
	Address     string
	// Orphan is set for a container under lxc_path that has no UCI app
	// section: reported, never deleted.
	Orphan bool
	// Error is the last start failure; Backoff until when nuvol waits
	// before trying again.
	Error   string
	Backoff time.Time
}

// StateMissing is an app whose UCI section has no container.
const (
	StateMissing    = "missing"
	StateInstalling = "installing"
)

// Node ties config, catalog, runtime and federation together.
type Node struct {
	o  Options
	rt runtime.Runtime

	mu         sync.Mutex // guards everything below and serialises reconciles
	cat        *catalog.Catalog
	cfg        *config.Config
	cfgErr     error
	crash      map[string]*crashState
	installing map[string]int // name -> port, reserved while an install runs
	published  map[string]bool
	orphans    []string
	lastState  map[string]string
	kick       chan struct{}
}

type crashState struct {
	started  time.Time // when nuvol last started it
	failures int
	next     time.Time
	lastErr  string
}

// New returns a Node. It reads the config but changes nothing: Run (or
// Reconcile) does.
func New(o Options) (*Node, error) {
	if o.Runtime == nil {
		return nil, errors.New("node: no runtime")
	}
	if o.ConfigPath == "" {
		return nil, errors.New("node: no config path")
	}
	if o.Catalog == nil {
		c, err := catalog.Default()
		if err != nil {
			return nil, err
		}
		o.Catalog = c
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.Prepare.Logf == nil {
		o.Prepare.Logf = o.Logf
	}
	if o.Interval <= 0 {
		o.Interval = 30 * time.Second
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = 10 * time.Second
	}
	if o.Backoff <= 0 {
		o.Backoff = 10 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	if o.StableAfter <= 0 {
		o.StableAfter = 60 * time.Second
	}
	n := &Node{
		o: o, rt: o.Runtime, cat: o.Catalog,
		crash:      map[string]*crashState{},
		installing: map[string]int{},
		published:  map[string]bool{},
		lastState:  map[string]string{},
		kick:       make(chan struct{}, 1),
	}
	n.cfg, n.cfgErr = n.load()
	if n.cfg == nil {
		n.cfg = &config.Config{}
	}
	// Staging directories of installs that a crash or power cut
	// interrupted: nothing else names its directories so.
	stale, _ := filepath.Glob(filepath.Join(o.Runtime.Path(), stagePrefix+"*"))
	for _, d := range stale {
		o.Logf("removing %s, left by an interrupted install", d)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := n.removeStage(ctx, d); err != nil {
			o.Logf("removing %s: %v", d, err)
		}
		cancel()
	}
	return n, nil
}

// load reads the config file; a missing file is an empty config.
func (n *Node) load() (*config.Config, error) {
	c, err := config.Load(n.o.ConfigPath)
	if errors.Is(err, os.ErrNotExist) {
		return config.Default(), nil
	}
	return c, err
}

// SetCatalog replaces the catalog (after the list of catalogs changed).
// Installed apps whose manifest disappeared keep running; their container
// config is then no longer rewritten at start.
func (n *Node) SetCatalog(c *catalog.Catalog) {
	if c == nil {
		return
	}
	n.mu.Lock()
	n.cat = c
	n.mu.Unlock()
}

func (n *Node) catalog() *catalog.Catalog {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cat
}

// ConfigError is the last error reading the config ("" when it is fine).
// While the file is broken the Node keeps working on the last good one.
func (n *Node) ConfigError() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cfgErr
}

// Reload makes cfg the current config (nil: re-read the file) and asks Run
// to reconcile now.
func (n *Node) Reload(cfg *config.Config) {
	n.mu.Lock()
	if cfg != nil {
		n.cfg, n.cfgErr = cfg, nil
	}
	n.mu.Unlock()
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// Run reconciles at once, on Reload and every Interval until ctx ends.
func (n *Node) Run(ctx context.Context) error {
	t := time.NewTicker(n.o.Interval)
	defer t.Stop()
	for {
		if err := n.Reconcile(ctx); err != nil && ctx.Err() == nil {
			n.o.Logf("reconcile: %v", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-n.kick:
		}
	}
}

// Reconcile makes the containers match the config: enabled apps that do
// not run are started (backing off from one that keeps crashing), disabled
// ones are stopped, running ones are left alone (adopted, never
// restarted). Containers without an app section are reported, never
// deleted. Then it publishes what is enabled, running and publish=1.
func (n *Node) Reconcile(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.reconcileLocked(ctx)
}

func (n *Node) reconcileLocked(ctx context.Context) error {
	if cfg, err := n.load(); err != nil {
		n.cfgErr = err
		n.o.Logf("config %s: %v (keeping the last good config)", n.o.ConfigPath, err)
	} else {
		n.cfg, n.cfgErr = cfg, nil
	}
	names, err := n.rt.List(ctx)
	if err != nil {
		n.publishLocked(nil)
		return fmt.Errorf("listing containers: %w", err)
	}
	present := map[string]bool{}
	for _, c := range names {
		present[c] = true
	}
	var errs []error
	running := map[string]bool{}
	want := map[string]bool{}
	now := time.Now()
	for _, a := range n.cfg.Apps {
		want[a.Name] = true
		if _, busy := n.installing[a.Name]; busy {
			continue // Install starts it and checks its health itself
		}
		if !present[a.Name] {
			n.noteState(a.Name, StateMissing)
			continue
		}
		st, err := n.rt.State(ctx, a.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		up := st == runtime.StateRunning || st == runtime.StateStarting
		switch {
		case a.Enabled && st == runtime.StateStopped:
			// (stopping and frozen are left alone: the first passes, the
			// second is the owner's doing)
			cs := n.crashOf(a.Name)
			if !cs.started.IsZero() && now.Sub(cs.started) < n.o.StableAfter {
				// nuvol started it and it stopped soon after: a crash
				// (or a stop behind nuvol's back, which looks the same).
				// The first is retried at once, then the waits double.
				cs.failures++
				d := n.backoff(cs.failures)
				cs.next = now.Add(d)
				cs.lastErr = fmt.Sprintf("exited %s after start (%d in a row)", now.Sub(cs.started).Round(time.Second), cs.failures)
				if d > 0 {
					cs.lastErr += "; next try in " + d.String()
				}
				cs.started = time.Time{}
				n.o.Logf("app %s: %s", a.Name, cs.lastErr)
			}
			if now.Before(cs.next) {
				n.noteState(a.Name, string(st))
				continue
			}
			if err := n.startLocked(ctx, a); err != nil {
				cs.failures++
				cs.next = now.Add(n.backoff(cs.failures))
				cs.lastErr = err.Error()
				errs = append(errs, fmt.Errorf("app %s: %w", a.Name, err))
				n.noteState(a.Name, string(runtime.StateStopped))
				continue
			}
			cs.started = time.Now()
			n.o.Logf("app %s: started", a.Name)
			running[a.Name] = true
			n.noteState(a.Name, string(runtime.StateRunning))
		case a.Enabled && up:
			cs := n.crashOf(a.Name)
			if !cs.started.IsZero() && now.Sub(cs.started) >= n.o.StableAfter {
				// Up long enough: forgive its past crashes.
				cs.failures, cs.lastErr, cs.started = 0, "", time.Time{}
			}
			running[a.Name] = st == runtime.StateRunning
			n.noteState(a.Name, string(st))
		case !a.Enabled && st != runtime.StateStopped:
			if err := n.rt.Stop(ctx, a.Name, n.o.StopTimeout); err != nil {
				errs = append(errs, fmt.Errorf("app %s: %w", a.Name, err))
				continue
			}
			n.o.Logf("app %s: stopped (disabled)", a.Name)
			delete(n.crash, a.Name)
			n.noteState(a.Name, string(runtime.StateStopped))
		default:
			n.noteState(a.Name, string(st))
		}
	}
	n.orphans = n.orphans[:0]
	for _, c := range names {
		if !want[c] {
			if _, busy := n.installing[c]; !busy {
				n.orphans = append(n.orphans, c)
			}
		}
	}
	for name := range n.crash {
		if !want[name] {
			delete(n.crash, name)
		}
	}
	var pub []PublishedApp
	for _, a := range n.cfg.Apps {
		if a.Enabled && a.Publish && running[a.Name] {
			pub = append(pub, n.publishedApp(a))
		}
	}
	n.publishLocked(pub)
	return errors.Join(errs...)
}

// backoff is the wait before restarting an app that failed failures
// times in a row: none after the first, then Backoff, doubling up to
// MaxBackoff.
func (n *Node) backoff(failures int) time.Duration {
	if failures <= 1 {
		return 0
	}
	if failures > 32 {
		return n.o.MaxBackoff // and no shift that overflows
	}
	d := n.o.Backoff << (failures - 2)
	if d > n.o.MaxBackoff || d <= 0 {
		d = n.o.MaxBackoff
	}
	return d
}

func (n *Node) crashOf(name string) *crashState {
	cs := n.crash[name]
	if cs == nil {
		cs = &crashState{}
		n.crash[name] = cs
	}
	return cs
}

func (n *Node) noteState(name, st string) {
	if n.lastState[name] == st {
		return
	}
	n.lastState[name] = st
	if n.o.OnState != nil {
		n.o.OnState(name, st)
	}
}

// port is the app's port: its own, or (port 0, or none in UCI) its
// manifest's.
func (n *Node) port(a config.App) int {
	if a.Port != 0 {
		return a.Port
	}
	if m, ok := n.cat.Get(a.App); ok {
		return m.Port
	}
	return 0
}

func (n *Node) publishedApp(a config.App) PublishedApp {
	p := PublishedApp{Name: a.Name, Description: a.Description, Port: n.port(a), Type: a.App}
	if m, ok := n.cat.Get(a.App); ok {
		p.Type = m.Type
		if p.Description == "" {
			p.Description = m.Name
		}
	}
	if p.Description == "" {
		p.Description = a.Name
	}
	return p
}

func (n *Node) publishLocked(apps []PublishedApp) {
	sort.Slice(apps, func(i, j int) bool { return apps[i].Name < apps[j].Name })
	n.published = map[string]bool{}
	for _, a := range apps {
		n.published[a.Name] = true
	}
	if n.o.Publisher != nil {
		n.o.Publisher.Publish(apps)
	}
}

// spec is the container spec for an installed app.
func (n *Node) spec(a config.App, m catalog.Manifest) runtime.Spec {
	v := catalog.Vars{Port: n.port(a), Addr: n.o.AppAddr, Name: a.Name, Memory: a.Memory}
	return runtime.Spec{
		Name:      a.Name,
		Init:      v.ExpandAll(m.Init),
		Env:       v.ExpandAll(m.Env),
		Network:   runtime.Network{Mode: a.Network, Bridge: a.Bridge},
		MemoryMiB: a.Memory,
		CPUWeight: a.CPUWeight,
	}
}

// startLocked rewrites the container's config from UCI and the catalog
// (so a changed port or memory limit applies at the next start) and
// starts it.
func (n *Node) startLocked(ctx context.Context, a config.App) error {
	if m, ok := n.cat.Get(a.App); ok {
		if err := n.rt.Create(ctx, filepath.Join(n.rt.Path(), a.Name), n.spec(a, m)); err != nil {
			return err
		}
	}
	return n.rt.Start(ctx, a.Name)
}

func (n *Node) app(name string) (config.App, bool) {
	for _, a := range n.cfg.Apps {
		if a.Name == name {
			return a, true
		}
	}
	return config.App{}, false
}

// reloadLocked re-reads the config for a method that changes it.
func (n *Node) reloadLocked() error {
	cfg, err := n.load()
	if err != nil {
		return fmt.Errorf("config %s: %w", n.o.ConfigPath, err)
	}
	n.cfg, n.cfgErr = cfg, nil
	return nil
}

// setOption writes one option of an app's UCI section.
func (n *Node) setOption(name, option, value string) error {
	return uci.Update(n.o.ConfigPath, func(f *uci.File) error {
		if f.Section(name) == nil {
			return kindErr(ErrNotFound, "no app %q", name)
		}
		return f.Set(name, option, value)
	})
}

func boolStr(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// lifecycle is Start, Stop and Restart: it records enabled in UCI, so the
// state survives a reboot, then acts and reconciles.
func (n *Node) lifecycle(ctx context.Context, name string, enable bool, act func(a config.App) error) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.reloadLocked(); err != nil {
		return err
	}
	a, ok := n.app(name)
	if !ok {
		return kindErr(ErrNotFound, "no app %q", name)
	}
	if a.Enabled != enable {
		if err := n.setOption(name, "enabled", boolStr(enable)); err != nil {
			return err
		}
		a.Enabled = enable
	}
	delete(n.crash, name) // a deliberate start clears the backoff
	err := act(a)
	if rerr := n.reconcileLocked(ctx); err == nil && rerr != nil {
		n.o.Logf("reconcile: %v", rerr)
	}
	return err
}

// Start enables an app and starts it.
func (n *Node) Start(ctx context.Context, name string) error {
	return n.lifecycle(ctx, name, true, func(a config.App) error {
		if err := n.startLocked(ctx, a); err != nil {
			return err
		}
		n.crashOf(name).started = time.Now()
		return nil
	})
}

// Stop disables an app and stops it (and so unpublishes it).
func (n *Node) Stop(ctx context.Context, name string) error {
	return n.lifecycle(ctx, name, false, func(a config.App) error {
		err := n.rt.Stop(ctx, name, n.o.StopTimeout)
		if errors.Is(err, runtime.ErrNotFound) {
			return nil // no container: stopped is what it is
		}
		return err
	})
}

// Restart enables an app and restarts it with its current settings.
func (n *Node) Restart(ctx context.Context, name string) error {
	return n.lifecycle(ctx, name, true, func(a config.App) error {
		if err := n.rt.Stop(ctx, name, n.o.StopTimeout); err != nil {
			return err
		}
		if err := n.startLocked(ctx, a); err != nil {
			return err
		}
		n.crashOf(name).started = time.Now()
		return nil
	})
}

// SetPublish writes the app's publish option and republishes.
func (n *Node) SetPublish(ctx context.Context, name string, on bool) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.reloadLocked(); err != nil {
		return err
	}
	if _, ok := n.app(name); !ok {
		return kindErr(ErrNotFound, "no app %q", name)
	}
	if err := n.setOption(name, "publish", boolStr(on)); err != nil {
		return err
	}
	if err := n.reconcileLocked(ctx); err != nil {
		n.o.Logf("reconcile: %v", err)
	}
	return nil
}

// Remove stops and destroys an app's container and deletes its section.
// It also removes a container that has no section (an orphan), which is
// the only way nuvol ever deletes one.
func (n *Node) Remove(ctx context.Context, name string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.reloadLocked(); err != nil {
		return err
	}
	if _, busy := n.installing[name]; busy {
		return kindErr(ErrConflict, "%q is being installed", name)
	}
	_, inUCI := n.app(name)
	_, err := n.rt.State(ctx, name)
	hasCT := err == nil
	if err != nil && !errors.Is(err, runtime.ErrNotFound) {
		return err
	}
	if !inUCI && !hasCT {
		return kindErr(ErrNotFound, "no app %q", name)
	}
	if hasCT {
		if err := n.rt.Stop(ctx, name, n.o.StopTimeout); err != nil {
			return err
		}
		if err := n.rt.Destroy(ctx, name); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return err
		}
	}
	if inUCI {
		if err := uci.Update(n.o.ConfigPath, func(f *uci.File) error {
			config.DeleteApp(f, name)
			return nil
		}); err != nil {
			return err
		}
	}
	delete(n.crash, name)
	delete(n.lastState, name)
	if n.o.OnState != nil {
		n.o.OnState(name, "removed")
	}
	if err := n.reconcileLocked(ctx); err != nil {
		n.o.Logf("reconcile: %v", err)
	}
	return nil
}

// Logs returns the last lines of an app's console log.
func (n *Node) Logs(name string, lines int) ([]string, error) {
	l, err := n.rt.Log(name, lines)
	if errors.Is(err, runtime.ErrNotFound) {
		return nil, kindErr(ErrNotFound, "no app %q", name)
	}
	return l, err
}

// List reports every app of the config with its container's state, apps
// being installed, and containers that have no app section (Orphan).
// infos asks the runtime about every configured app at once. With the
// lxc-tools backend each answer is an lxc-info process of a few
// milliseconds, so asking one after another made `list` grow with the
// number of apps; asked together they cost about one. Callers hold n.mu.
func (n *Node) infos(ctx context.Context) ([]runtime.Info, []error) {
	infos := make([]runtime.Info, len(n.cfg.Apps))
	errs := make([]error, len(n.cfg.Apps))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8) // a bound, for a router with many apps
	for i, a := range n.cfg.Apps {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			infos[i], errs[i] = n.rt.Info(ctx, a.Name)
		}()
	}
	wg.Wait()
	return infos, errs
}

func (n *Node) List(ctx context.Context) ([]AppStatus, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []AppStatus
	seen := map[string]bool{}
	infos, errs := n.infos(ctx)
	for i, a := range n.cfg.Apps {
		seen[a.Name] = true
		s := AppStatus{
			Name: a.Name, App: a.App, Enabled: a.Enabled, Publish: a.Publish,
			Published: n.published[a.Name], Port: n.port(a), Memory: a.Memory,
			CPUWeight: a.CPUWeight, Description: a.Description, Network: a.Network,
		}
		if m, ok := n.cat.Get(a.App); ok {
			s.Type = m.Type
			if s.Description == "" {
				s.Description = m.Name
			}
		}
		info, err := infos[i], errs[i]
		switch {
		case errors.Is(err, runtime.ErrNotFound):
			s.State = StateMissing
		case err != nil:
			s.State = "unknown"
			s.Error = err.Error()
		default:
			s.State = string(info.State)
			s.MemoryUsed = info.MemoryBytes
			if len(info.Addresses) > 0 {
				s.Address = info.Addresses[0]
			}
		}
		if cs := n.crash[a.Name]; cs != nil && cs.lastErr != "" {
			s.Error = cs.lastErr
			s.Backoff = cs.next
		}
		out = append(out, s)
	}
	for name, port := range n.installing {
		if !seen[name] {
			seen[name] = true
			out = append(out, AppStatus{Name: name, State: StateInstalling, Port: port})
		}
	}
	names, err := n.rt.List(ctx)
	if err != nil {
		return out, err
	}
	for _, c := range names {
		if seen[c] {
			continue
		}
		s := AppStatus{Name: c, Orphan: true, State: "unknown"}
		if st, err := n.rt.State(ctx, c); err == nil {
			s.State = string(st)
		}
		out = append(out, s)
	}
	return out, nil
}

// Orphans are the containers under lxc_path without an app section, as
// of the last reconcile.
func (n *Node) Orphans() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.orphans...)
}

// Published are the apps handed to the Publisher by the last reconcile.
func (n *Node) Published() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for name := range n.published {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Config returns the current config (the last good one read).
func (n *Node) Config() *config.Config {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cfg
}

// portFree reports whether something on the host already listens on
// port. Apps in host mode share the router's ports, so one that is taken
// (by uhttpd, dnsmasq or another service) would make the app fail.
func portFree(addr string, port int) error {
	if addr == "" {
		addr = "0.0.0.0"
	}
	l, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
	if err != nil {
		return err
	}
	return l.Close()
}
