package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"sync"
	"syscall"
	"time"

	"github.com/nuvol-project/nuvol/src/api"
	"github.com/nuvol-project/nuvol/src/catalog"
	"github.com/nuvol-project/nuvol/src/config"
	"github.com/nuvol-project/nuvol/src/federation"
	"github.com/nuvol-project/nuvol/src/node"
	"github.com/nuvol-project/nuvol/src/runtime"
	"github.com/nuvol-project/nuvol/src/ubus"
)

// daemon is `nuvol daemon`: it owns the config in force, the runtime, the
// catalog, the federation agent and the reconciler, and serves the table.
type daemon struct {
	confPath  string
	socket    string // from --socket; "" means the config's
	ubusPath  string // "" disables ubus
	log       *logger
	version   string
	startTime time.Time

	ctx    context.Context
	cancel context.CancelFunc

	fedMu  sync.Mutex // held while the agent starts or stops
	fedGen uint64     // bumped by every stop: pending starts give up

	mu      sync.Mutex
	catGen  uint64         // the latest catalog reload
	cfg     *config.Config // the last good config, in force
	cfgErr  string         // why the file on disk was refused
	rt      runtime.Runtime
	cat     *catalog.Catalog
	node    *node.Node
	fed     *federation.Agent
	fedErr  string
	fedCfg  federation.Config // what fed was started with
	pub     *publisher
	ubus    *ubus.Client
	events  chan ubusEvent    // to sendEvents, when ubus is on
	lastApp map[string]string // the state last sent in nuvol.app, by app
	wg      sync.WaitGroup
}

func runDaemon(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("nuvol daemon", flag.ContinueOnError)
	fs.SetOutput(stderr)
	confdir := fs.String("confdir", "/etc/config", "directory holding the UCI file `nuvol`")
	socket := fs.String("socket", "", "control socket (default: the config's, else "+api.DefaultSocket+")")
	ubusPath := fs.String("ubus", ubus.DefaultSocket, "ubusd's socket; \"\" or \"none\" runs without ubus")
	if _, err := parseInterleaved(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *ubusPath == "none" {
		*ubusPath = ""
	}
	d := &daemon{
		confPath:  filepath.Join(*confdir, "nuvol"),
		socket:    *socket,
		ubusPath:  *ubusPath,
		log:       newLogger(stderr),
		version:   version,
		startTime: time.Now(),
	}
	if err := d.run(); err != nil {
		d.log.Errorf("%v", err)
		return exitFail
	}
	return exitOK
}

func (d *daemon) run() error {
	d.ctx, d.cancel = context.WithCancel(context.Background())
	defer d.cancel()
	// Signals first, so a SIGHUP during start-up is not fatal.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)

	d.log.Infof("nuvol %s starting (config %s)", d.version, d.confPath)
	cfg, err := d.loadConfig()
	if err != nil {
		// Nothing good to fall back to: serve status (with the error) and
		// touch no container until a reload brings a valid file.
		d.cfgErr = err.Error()
		d.log.Errorf("config %s: %v; not managing apps until it is fixed (then: /etc/init.d/nuvol reload)", d.confPath, err)
		// The built-in catalog needs no config: `catalog` still answers.
		if d.cat, err = catalog.Default(); err != nil {
			d.log.Errorf("catalog: %v", err)
		}
	} else {
		d.log.setLevel(cfg.Node.LogLevel)
	}

	sockPath := d.socket
	if sockPath == "" && cfg != nil {
		sockPath = cfg.Node.Socket
	}
	if sockPath == "" {
		sockPath = api.DefaultSocket
	}
	if err := os.MkdirAll(filepath.Dir(sockPath), 0o755); err != nil {
		return err
	}
	ln, err := api.Listen(sockPath)
	if err != nil {
		return err
	}
	table := api.New(d.backend())
	srv := &api.Server{Table: table, Logf: d.log.Sub("", levelWarn)}

	d.pub = &publisher{log: d.log}
	if cfg != nil {
		if err := d.apply(cfg); err != nil {
			ln.Close()
			return err
		}
	}
	d.wg.Add(1)
	go func() { defer d.wg.Done(); srv.Serve(ln) }()
	d.log.Infof("serving on %s (ready in %s)", sockPath, time.Since(d.startTime).Round(time.Millisecond))

	if d.ubusPath != "" {
		d.startUbus(table)
	}

	for sig := range sigs {
		switch sig {
		case syscall.SIGHUP:
			d.reload()
		default:
			d.log.Infof("%v: leaving the community; apps keep running", sig)
			signal.Stop(sigs)
			d.shutdown(srv, ln)
			return nil
		}
	}
	return nil
}

// loadConfig reads the file; a missing file means the defaults, as on a
// fresh install before uci-defaults ran.
func (d *daemon) loadConfig() (*config.Config, error) {
	cfg, err := config.Load(d.confPath)
	if errors.Is(err, fs.ErrNotExist) {
		d.log.Warnf("no config at %s: using the defaults", d.confPath)
		return config.Default(), nil
	}
	return cfg, err
}

// reload is SIGHUP: re-read, and apply only what changed.
func (d *daemon) reload() {
	d.log.Infof("reloading %s", d.confPath)
	cfg, err := d.loadConfig()
	if err != nil {
		d.mu.Lock()
		d.cfgErr = err.Error()
		good := d.cfg != nil
		d.mu.Unlock()
		if good {
			d.log.Errorf("config %s refused, the last good one stays in force: %v", d.confPath, err)
		} else {
			d.log.Errorf("config %s still invalid: %v", d.confPath, err)
		}
		return
	}
	d.log.setLevel(cfg.Node.LogLevel)
	if err := d.apply(cfg); err != nil {
		d.mu.Lock()
		d.cfgErr = err.Error()
		d.mu.Unlock()
		d.log.Errorf("config %s: %v", d.confPath, err)
	}
}

// apply puts cfg in force: it starts what is missing and restarts only the
// parts whose settings changed. Running apps are never restarted here; the
// reconciler decides that from the apps' own sections.
func (d *daemon) apply(cfg *config.Config) error {
	d.mu.Lock()
	old := d.cfg
	d.mu.Unlock()

	if d.rt == nil || (old != nil && old.Node.LxcPath != cfg.Node.LxcPath) {
		if d.rt != nil {
			// Containers live under lxc_path: moving it under a running
			// daemon would orphan them. Keep the old one until a restart.
			d.log.Warnf("lxc_path changed to %s: takes effect when the daemon restarts", cfg.Node.LxcPath)
		} else {
			rt, err := runtime.New("", cfg.Node.LxcPath)
			if err != nil {
				return fmt.Errorf("runtime: %w", err)
			}
			d.rt = rt
		}
	}
	if old != nil && d.socket == "" && old.Node.Socket != cfg.Node.Socket {
		d.log.Warnf("socket changed to %s: takes effect when the daemon restarts", cfg.Node.Socket)
	}

	// The built-in catalog is there at once; extra catalogs (directories
	// or feeds, which may be slow to fetch) are loaded in the background
	// and then handed to the node, so start-up and reload never wait on
	// the network.
	if d.node == nil {
		cat, err := catalog.Default()
		if err != nil {
			return fmt.Errorf("catalog: %w", err)
		}
		d.mu.Lock()
		d.cat = cat
		d.mu.Unlock()
	}
	first := old == nil || d.node == nil
	if first && len(cfg.Node.Catalogs) > 0 || !first && !reflect.DeepEqual(old.Node.Catalogs, cfg.Node.Catalogs) {
		list := append([]string(nil), cfg.Node.Catalogs...)
		d.mu.Lock()
		d.catGen++
		gen := d.catGen
		d.mu.Unlock()
		d.wg.Add(1)
		go func() { defer d.wg.Done(); d.reloadCatalog(gen, list) }()
	}
	if d.node != nil && old != nil && old.Node.ImageServer != cfg.Node.ImageServer {
		d.log.Warnf("image_server changed to %s: takes effect when the daemon restarts", cfg.Node.ImageServer)
	}

	d.pub.configure(cfg)
	if d.node == nil {
		n, err := node.New(node.Options{
			ConfigPath: d.confPath,
			Runtime:    d.rt,
			Catalog:    d.cat,
			Publisher:  d.pub,
			Logf:       d.log.Sub("", levelInfo),
			AppAddr:    appAddr(cfg.Node.BindAddr),
			Prepare:    catalog.PrepareOptions{ImageServer: cfg.Node.ImageServer},
			OnState: func(name, state string) {
				d.event("nuvol.app", map[string]any{"name": name, "state": state})
			},
		})
		if err != nil {
			return fmt.Errorf("node: %w", err)
		}
		d.mu.Lock()
		d.node = n
		d.mu.Unlock()
		n.Reload(cfg)
		d.wg.Add(1)
		go func() { defer d.wg.Done(); n.Run(d.ctx) }()
	} else {
		d.node.Reload(cfg) // Run reconciles at once
	}

	d.mu.Lock()
	d.cfg = cfg
	d.cfgErr = ""
	d.mu.Unlock()
	d.applyFederation(cfg)
	return nil
}

// appAddr is the address apps bind: a node bound to loopback (make run,
// the demo, the tests) keeps its apps on loopback too; otherwise they
// listen on every address of the router, as a LAN service should.
func appAddr(bind string) string {
	if ip := net.ParseIP(bind); ip != nil && ip.IsLoopback() {
		return bind
	}
	return ""
}

// reloadCatalog loads the built-in catalog plus extra and puts it in force,
// unless a newer reload (a higher gen) came meanwhile.
func (d *daemon) reloadCatalog(gen uint64, extra []string) {
	ctx, cancel := context.WithTimeout(d.ctx, 2*time.Minute)
	defer cancel()
	var cat *catalog.Catalog
	var err error
	if len(extra) == 0 {
		cat, err = catalog.Default()
	} else {
		cat, err = catalog.LoadContext(ctx, extra, nil)
	}
	if err != nil {
		// Load still returns what it could read; only nothing at all
		// keeps the catalog in force as it was.
		if cat == nil {
			d.log.Errorf("catalog %v: %v; keeping the catalog in force", extra, err)
			return
		}
		d.log.Errorf("catalog: %v (skipped)", err)
	}
	d.mu.Lock()
	if gen != d.catGen {
		d.mu.Unlock()
		return
	}
	d.cat = cat
	n := d.node
	d.mu.Unlock()
	if n != nil {
		n.SetCatalog(cat)
	}
	d.log.Infof("catalog: %d apps (built-in and %d more sources)", len(cat.All()), len(extra))
}

// fedConfig is the federation's part of the config.
func (d *daemon) fedConfig(cfg *config.Config) federation.Config {
	n := cfg.Node
	return federation.Config{
		NodeName:      n.NodeName,
		BindAddr:      n.BindAddr,
		BindPort:      n.BindPort,
		AdvertiseAddr: n.AdvertiseAddr,
		Join:          append([]string(nil), n.Join...),
		EncryptKey:    n.EncryptKey,
		SnapshotPath:  filepath.Join(d.lxcPath(n.LxcPath), ".nuvol", "serf.snapshot"),
		Host:          hostName(n.NameOrHost(), n.CloudName),
		Device:        n.DeviceName,
	}
}

// lxcPath is the lxc path in force: the runtime's, which a reload does
// not move.
func (d *daemon) lxcPath(configured string) string {
	if d.rt != nil {
		return d.rt.Path()
	}
	return configured
}

func withoutJoin(c federation.Config) federation.Config {
	c.Join = nil
	return c
}

func sameFed(a, b federation.Config) bool {
	a.Logf, b.Logf = nil, nil
	return reflect.DeepEqual(a, b)
}

// applyFederation starts the agent, restarts it when its settings changed,
// or stops it when the node is disabled. A start that fails (a port in use)
// is reported in status and retried in the background.
func (d *daemon) applyFederation(cfg *config.Config) {
	// fedMu orders starts and stops: two quick reloads must not leave two
	// agents (or an agent with the older settings) behind.
	d.fedMu.Lock()
	defer d.fedMu.Unlock()
	fc := d.fedConfig(cfg)
	d.mu.Lock()
	cur := d.fed
	same := cur != nil && sameFed(d.fedCfg, fc)
	onlyJoin := cur != nil && !same && sameFed(withoutJoin(d.fedCfg), withoutJoin(fc))
	if onlyJoin {
		d.fedCfg = fc
	}
	d.mu.Unlock()
	if same {
		return
	}
	if onlyJoin {
		// New join addresses need no new membership: just ask them.
		if len(fc.Join) > 0 {
			d.wg.Add(1)
			go func() {
				defer d.wg.Done()
				if n, err := cur.Join(fc.Join...); err != nil && n == 0 {
					d.log.Warnf("federation: join %v: %v", fc.Join, err)
				}
			}()
		}
		return
	}
	if cur != nil {
		d.log.Infof("federation settings changed: rejoining")
	}
	d.stopFederationLocked() // also ends a start still retrying
	if !cfg.Node.Enabled {
		d.mu.Lock()
		d.fedErr = "the node is disabled (enabled 0)"
		d.mu.Unlock()
		return
	}
	gen := d.fedGen
	d.wg.Add(1)
	go func() { defer d.wg.Done(); d.startFederation(fc, gen) }()
}

// startFederation starts the agent, retrying with backoff (a port still
// held by the previous daemon, say), until it runs or a newer apply or
// the shutdown (which bump fedGen) makes this attempt moot.
func (d *daemon) startFederation(fc federation.Config, gen uint64) {
	fc.Logf = d.log.Sub("", levelDebug)
	wait := time.Second
	for {
		d.fedMu.Lock()
		if d.fedGen != gen || d.ctx.Err() != nil {
			d.fedMu.Unlock()
			return
		}
		a, err := federation.Start(fc)
		if err == nil {
			d.mu.Lock()
			d.fed, d.fedCfg, d.fedErr = a, fc, ""
			d.mu.Unlock()
			d.fedMu.Unlock()
			a.OnChange(d.communityChanged)
			d.pub.setAgent(a)
			d.log.Infof("federation: serf member %s on %s:%d", a.NodeName(), fc.BindAddr, fc.BindPort)
			return
		}
		d.mu.Lock()
		d.fedErr = err.Error()
		d.mu.Unlock()
		d.fedMu.Unlock()
		d.log.Errorf("%v; retrying in %s", err, wait)
		select {
		case <-d.ctx.Done():
			return
		case <-time.After(wait):
		}
		if wait < time.Minute {
			wait *= 2
		}
	}
}

func (d *daemon) stopFederation() {
	d.fedMu.Lock()
	defer d.fedMu.Unlock()
	d.stopFederationLocked()
}

// stopFederationLocked leaves the community; d.fedMu is held.
func (d *daemon) stopFederationLocked() {
	d.fedGen++
	d.mu.Lock()
	a := d.fed
	d.fed = nil
	d.mu.Unlock()
	if a == nil {
		return
	}
	d.pub.setAgent(nil)
	if err := a.Leave(); err != nil {
		d.log.Warnf("federation: leave: %v", err)
	}
	a.Shutdown()
}

func (d *daemon) communityChanged() {
	d.mu.Lock()
	a := d.fed
	d.mu.Unlock()
	if a == nil {
		return
	}
	d.event("nuvol.community", map[string]any{"services": len(a.Search(federation.Query{}))})
}

// startUbus registers the table on ubus. The client redials by itself, so
// a missing ubusd (a Debian host, or ubusd restarting) only delays this.
func (d *daemon) startUbus(table *api.Table) {
	if _, err := os.Stat(d.ubusPath); err != nil {
		d.log.Infof("ubus: %s not there (yet): serving the control socket only, retrying in the background", d.ubusPath)
	}
	c := ubus.NewClient(d.ubusPath, d.log.Sub("", levelDebug))
	if _, err := c.AddObject(api.UbusObject(api.ObjectName, table)); err != nil {
		d.log.Errorf("ubus: add object %s: %v", api.ObjectName, err)
		c.Close()
		return
	}
	q := make(chan ubusEvent, 64)
	d.mu.Lock()
	d.ubus, d.events = c, q
	d.mu.Unlock()
	d.wg.Add(1)
	go func() { defer d.wg.Done(); d.sendEvents(c, q) }()
}

// event queues a ubus event when ubus is there. The node calls this with
// its lock held, so it must not block: a full queue drops the event (they
// are hints to refresh, not state).
func (d *daemon) event(ev string, data map[string]any) {
	d.mu.Lock()
	q := d.events
	if ev == "nuvol.app" {
		// The table and the node may both report one change.
		name, _ := data["name"].(string)
		state, _ := data["state"].(string)
		if d.lastApp == nil {
			d.lastApp = map[string]string{}
		}
		if d.lastApp[name] == state {
			q = nil
		}
		d.lastApp[name] = state
	}
	d.mu.Unlock()
	if q == nil {
		return
	}
	select {
	case q <- ubusEvent{ev, data}:
	default:
		d.log.Debugf("ubus: event queue full, %s dropped", ev)
	}
}

type ubusEvent struct {
	name string
	data map[string]any
}

func (d *daemon) sendEvents(c *ubus.Client, q <-chan ubusEvent) {
	for {
		select {
		case <-d.ctx.Done():
			return
		case e := <-q:
			if err := c.Send(e.name, e.data); err != nil {
				d.log.Debugf("ubus: %s not sent: %v", e.name, err)
			}
		}
	}
}

func (d *daemon) shutdown(srv *api.Server, ln net.Listener) {
	srv.Close()
	ln.Close()
	d.stopFederation()
	d.mu.Lock()
	c := d.ubus
	d.mu.Unlock()
	if c != nil {
		c.Close()
	}
	d.cancel()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		d.log.Warnf("some work did not finish in 5 s; exiting anyway")
	}
	d.log.Infof("stopped")
}
