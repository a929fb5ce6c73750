package api

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// The handlers reach the rest of nuvol only through these small interfaces,
// so the table can be tested with fakes and the daemon (src/cmd/nuvol) adapts
// node, catalog and federation to them.

// App is one installed app as `list` reports it.
type App struct {
	Name        string // the UCI section and container name
	App         string // catalog id
	State       string // runtime state: running, stopped, ..., or "missing"
	Enabled     bool
	Port        int
	Memory      int   // limit, MiB
	MemoryUsed  int64 // bytes in use now (0 when stopped)
	CPUWeight   int
	Publish     bool // the owner asked to publish it
	Published   bool // it is in this node's services tag right now
	Description string
	Network     string
	Address     string // where to open it, e.g. 10.0.0.1
	Error       string // the last start failure, "" when none
	// Orphan is a container under lxc_path with no app section: shown,
	// never deleted unless the owner removes it.
	Orphan bool
}

// InstallRequest is what `install` asks for; zero fields take defaults.
type InstallRequest struct {
	App, Name    string
	Port, Memory int
}

// CatalogApp is one installable app.
type CatalogApp struct {
	ID, Name, Description, Type, Version, Source string
	Port, Memory                                 int
}

// Query filters a community search; empty fields match everything.
type Query struct{ Type, Host, Text string }

// Service is one published service in the community directory.
type Service struct {
	Type, Description, Host, Address string
	Port                             int
	Device, Extra                    string
	Node, NodeStatus                 string
	Nuvol                            bool // published by nuvol (else by Cloudy)
}

// Member is one serf member.
type Member struct {
	Name, Address string
	Port          int
	Status        string
	Nuvol         bool
	Services      int
}

// NotFitted is a published app that did not fit in the services tag.
type NotFitted struct {
	Name, Type string
	Port       int
}

// NodeInfo is the node's own state for `status`.
type NodeInfo struct {
	Node, Cloud     string
	Enabled         bool
	ConfigError     string // why the config on disk was refused ("" if it is in force)
	FederationError string // why the federation is not running ("" if it is)
}

// Apps manages installed apps (node.Node, adapted).
type Apps interface {
	Install(ctx context.Context, req InstallRequest) (App, error)
	Remove(ctx context.Context, name string) error
	Start(ctx context.Context, name string) error
	Stop(ctx context.Context, name string) error
	Restart(ctx context.Context, name string) error
	SetPublish(ctx context.Context, name string, on bool) error
	List(ctx context.Context) ([]App, error)
	Logs(ctx context.Context, name string, lines int) ([]string, error)
}

// Catalog lists installable apps.
type Catalog interface {
	Apps() []CatalogApp
}

// Community is the federation's directory.
type Community interface {
	Search(q Query) []Service
	Members() []Member
	NotFitted() []NotFitted
}

// Backend is everything the nuvol table needs.
type Backend struct {
	Apps      Apps
	Catalog   Catalog
	Community Community // nil when the federation is not running
	Info      func() NodeInfo
	Version   string
	// ValidName checks an app name (config.ValidName); nil uses a built-in
	// check that accepts what UCI section names accept.
	ValidName func(string) error
	// Event, if set, is told about state changes the table causes
	// ("nuvol.app" {name, state}); the ubus transport sends them.
	Event func(event string, data map[string]any)
}

// DefaultLogLines is how many log lines `logs` returns without `lines`.
const DefaultLogLines = 100

// MaxLogLines bounds `lines` so a typo does not ask for a gigabyte.
const MaxLogLines = 10000

// Spec is the static part of the table: names, policies, and the
// read/change split, without handlers. The LuCI ACL and tests use it.
func Spec() []Method { return New(Backend{}).Methods() }

// ReadOnly lists the methods that only read (the ACL's read grant).
func ReadOnly() []string { return names(Spec(), false) }

// Changing lists the methods that change something (the write grant).
func Changing() []string { return names(Spec(), true) }

// New builds nuvol's method table on b.
func New(b Backend) *Table {
	h := &handlers{b: b}
	name := Arg{Name: "name", Type: String, Required: true, Check: h.checkName}
	return NewTable([]Method{
		{Name: "status", Handler: h.status},
		{Name: "catalog", Handler: h.catalog},
		{Name: "list", Handler: h.list},
		{Name: "install", Changes: true, Handler: h.install, Args: []Arg{
			{Name: "app", Type: String, Required: true},
			{Name: "name", Type: String, Check: h.checkName},
			{Name: "port", Type: Int, Check: checkPort},
			{Name: "memory", Type: Int, Check: checkMemory},
		}},
		{Name: "remove", Changes: true, Args: []Arg{name}, Handler: h.op("remove")},
		{Name: "start", Changes: true, Args: []Arg{name}, Handler: h.op("start")},
		{Name: "stop", Changes: true, Args: []Arg{name}, Handler: h.op("stop")},
		{Name: "restart", Changes: true, Args: []Arg{name}, Handler: h.op("restart")},
		{Name: "publish", Changes: true, Args: []Arg{name}, Handler: h.op("publish")},
		{Name: "unpublish", Changes: true, Args: []Arg{name}, Handler: h.op("unpublish")},
		{Name: "search", Handler: h.search, Args: []Arg{
			{Name: "type", Type: String},
			{Name: "host", Type: String},
			{Name: "text", Type: String},
		}},
		{Name: "nodes", Handler: h.nodes},
		{Name: "logs", Handler: h.logs, Args: []Arg{name,
			{Name: "lines", Type: Int, Check: checkLines}}},
	})
}

type handlers struct{ b Backend }

func (h *handlers) checkName(v any) string {
	s := v.(string)
	if h.b.ValidName != nil {
		if err := h.b.ValidName(s); err != nil {
			return err.Error()
		}
		return ""
	}
	return validName(s)
}

// validName accepts what a UCI section name accepts (letters, digits, _),
// which is also always a valid LXC container name.
func validName(s string) string {
	if s == "" {
		return "empty name"
	}
	if len(s) > 63 {
		return fmt.Sprintf("%q is longer than 63 characters", s)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return fmt.Sprintf("%q is not a valid name: use letters, digits and _", s)
		}
	}
	return ""
}

func checkPort(v any) string {
	if p := v.(int); p < 1 || p > 65535 {
		return fmt.Sprintf("%d is not a port (1-65535)", p)
	}
	return ""
}

func checkMemory(v any) string {
	if m := v.(int); m < 4 || m > 1<<20 {
		return fmt.Sprintf("%d MiB is not a sane memory limit (4 MiB .. 1 TiB)", m)
	}
	return ""
}

func checkLines(v any) string {
	if n := v.(int); n < 1 || n > MaxLogLines {
		return fmt.Sprintf("%d is not a line count (1-%d)", n, MaxLogLines)
	}
	return ""
}

func (h *handlers) event(name, state string) {
	if h.b.Event != nil {
		h.b.Event("nuvol.app", map[string]any{"name": name, "state": state})
	}
}

func (h *handlers) info() NodeInfo {
	if h.b.Info == nil {
		return NodeInfo{}
	}
	return h.b.Info()
}

func (h *handlers) apps(ctx context.Context) ([]App, error) {
	if h.b.Apps == nil {
		return nil, Errorf(StatusNotSupported, "no app manager")
	}
	return h.b.Apps.List(ctx)
}

// find returns the installed app called name, or NOT_FOUND.
func (h *handlers) find(ctx context.Context, name string) (App, error) {
	apps, err := h.apps(ctx)
	if err != nil {
		return App{}, err
	}
	for _, a := range apps {
		if a.Name == name {
			return a, nil
		}
	}
	return App{}, Errorf(StatusNotFound, "no installed app %q (see `nuvol ls`)", name)
}

func (h *handlers) status(ctx context.Context, _ Args) (map[string]any, error) {
	inf := h.info()
	apps, err := h.apps(ctx)
	if err != nil {
		return nil, err
	}
	var running, published int
	for _, a := range apps {
		if a.State == "running" {
			running++
		}
		if a.Published {
			published++
		}
	}
	members := 0
	var nf []NotFitted
	if c := h.b.Community; c != nil {
		for _, m := range c.Members() {
			if m.Status == "alive" {
				members++
			}
		}
		nf = c.NotFitted()
	}
	return map[string]any{
		"node":             inf.Node,
		"version":          h.b.Version,
		"cloud":            inf.Cloud,
		"enabled":          inf.Enabled,
		"apps":             map[string]any{"installed": len(apps), "running": running, "published": published},
		"config_error":     inf.ConfigError,
		"federation_error": inf.FederationError,
		"not_fitted":       notFittedList(nf),
		"members":          members,
	}, nil
}

func notFittedList(nf []NotFitted) []any {
	out := make([]any, 0, len(nf))
	for _, n := range nf {
		out = append(out, map[string]any{"name": n.Name, "type": n.Type, "port": n.Port})
	}
	return out
}

func (h *handlers) catalogApps() []CatalogApp {
	if h.b.Catalog == nil {
		return nil
	}
	return h.b.Catalog.Apps()
}

func (h *handlers) catalog(ctx context.Context, _ Args) (map[string]any, error) {
	apps, err := h.apps(ctx)
	if err != nil {
		return nil, err
	}
	installed := map[string]bool{}
	for _, a := range apps {
		installed[a.App] = true
	}
	cat := h.catalogApps()
	out := make([]any, 0, len(cat))
	for _, c := range cat {
		out = append(out, map[string]any{
			"id": c.ID, "name": c.Name, "description": c.Description, "type": c.Type,
			"version": c.Version, "port": c.Port, "memory": c.Memory, "source": c.Source,
			"installed": installed[c.ID],
		})
	}
	return map[string]any{"apps": out}, nil
}

// AppMap is the JSON form of an App in `list`.
func AppMap(a App) map[string]any {
	return map[string]any{
		"name": a.Name, "app": a.App, "state": a.State, "enabled": a.Enabled,
		"port": a.Port, "memory": a.Memory, "memory_used": a.MemoryUsed,
		"cpu_weight": a.CPUWeight, "publish": a.Publish, "published": a.Published,
		"description": a.Description, "network": a.Network, "address": a.Address,
		"error": a.Error, "orphan": a.Orphan,
	}
}

func (h *handlers) list(ctx context.Context, _ Args) (map[string]any, error) {
	apps, err := h.apps(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(apps))
	for _, a := range apps {
		out = append(out, AppMap(a))
	}
	return map[string]any{"apps": out}, nil
}

func (h *handlers) install(ctx context.Context, args Args) (map[string]any, error) {
	req := InstallRequest{App: args.String("app"), Name: args.String("name")}
	req.Port, _ = args.Int("port")
	req.Memory, _ = args.Int("memory")
	var known []string
	found := false
	for _, c := range h.catalogApps() {
		known = append(known, c.ID)
		if c.ID == req.App {
			found = true
		}
	}
	if !found {
		sort.Strings(known)
		return nil, Errorf(StatusNotFound, "no app %q in the catalog (known: %s; see `nuvol catalog`)", req.App, strings.Join(known, ", "))
	}
	apps, err := h.apps(ctx)
	if err != nil {
		return nil, err
	}
	taken := map[string]bool{}
	for _, a := range apps {
		taken[a.Name] = true
		if req.Port != 0 && a.Port == req.Port {
			return nil, Errorf(StatusInvalidArgument, "install: port %d is already used by app %q (choose another with --port)", req.Port, a.Name)
		}
	}
	if req.Name == "" {
		req.Name = defaultName(req.App, taken)
	} else if taken[req.Name] {
		return nil, Errorf(StatusInvalidArgument, "install: an app called %q is already installed (choose another with --name)", req.Name)
	}
	a, err := h.b.Apps.Install(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("install %s as %q: %w", req.App, req.Name, err)
	}
	h.event(a.Name, a.State)
	return map[string]any{"name": a.Name, "state": a.State, "port": a.Port}, nil
}

// defaultName derives a free app name from a catalog id ("static-web" ->
// "static_web", then "static_web_2", ...).
func defaultName(id string, taken map[string]bool) string {
	b := []byte(id)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	base := string(b)
	if len(base) > 56 {
		base = base[:56]
	}
	if base == "" {
		base = "app"
	}
	name := base
	for i := 2; taken[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	return name
}

// op returns the handler of a method that acts on one installed app.
func (h *handlers) op(verb string) Handler {
	return func(ctx context.Context, args Args) (map[string]any, error) {
		name := args.String("name")
		if _, err := h.find(ctx, name); err != nil {
			return nil, err
		}
		var err error
		switch verb {
		case "remove":
			err = h.b.Apps.Remove(ctx, name)
		case "start":
			err = h.b.Apps.Start(ctx, name)
		case "stop":
			err = h.b.Apps.Stop(ctx, name)
		case "restart":
			err = h.b.Apps.Restart(ctx, name)
		case "publish":
			err = h.b.Apps.SetPublish(ctx, name, true)
		case "unpublish":
			err = h.b.Apps.SetPublish(ctx, name, false)
		}
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", verb, name, err)
		}
		state := "removed"
		if verb != "remove" {
			a, err := h.find(ctx, name)
			if err != nil {
				return nil, err
			}
			state = a.State
		}
		h.event(name, state)
		return map[string]any{"name": name, "state": state}, nil
	}
}

func software(nuvol bool) string {
	if nuvol {
		return "nuvol"
	}
	return "cloudy"
}

func (h *handlers) search(_ context.Context, args Args) (map[string]any, error) {
	out := []any{}
	if c := h.b.Community; c != nil {
		q := Query{Type: args.String("type"), Host: args.String("host"), Text: args.String("text")}
		for _, s := range c.Search(q) {
			out = append(out, map[string]any{
				"type": s.Type, "description": s.Description, "host": s.Host,
				"address": s.Address, "port": s.Port, "device": s.Device, "extra": s.Extra,
				"node": s.Node, "node_status": s.NodeStatus, "software": software(s.Nuvol),
			})
		}
	}
	return map[string]any{"services": out}, nil
}

func (h *handlers) nodes(_ context.Context, _ Args) (map[string]any, error) {
	members := []any{}
	var nf []NotFitted
	if c := h.b.Community; c != nil {
		for _, m := range c.Members() {
			members = append(members, map[string]any{
				"name": m.Name, "address": m.Address, "port": m.Port, "status": m.Status,
				"software": software(m.Nuvol), "services": m.Services,
			})
		}
		nf = c.NotFitted()
	}
	return map[string]any{"members": members, "not_fitted": notFittedList(nf)}, nil
}

func (h *handlers) logs(ctx context.Context, args Args) (map[string]any, error) {
	name := args.String("name")
	if _, err := h.find(ctx, name); err != nil {
		return nil, err
	}
	n, ok := args.Int("lines")
	if !ok {
		n = DefaultLogLines
	}
	lines, err := h.b.Apps.Logs(ctx, name, n)
	if err != nil {
		return nil, fmt.Errorf("logs %s: %w", name, err)
	}
	out := make([]any, 0, len(lines))
	for _, l := range lines {
		out = append(out, l)
	}
	return map[string]any{"name": name, "lines": out}, nil
}
