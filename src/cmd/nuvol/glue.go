package main

import (
	"context"
	"errors"
	"sort"
	"strconv"

	"github.com/nuvol-project/nuvol/src/api"
	"github.com/nuvol-project/nuvol/src/config"
	"github.com/nuvol-project/nuvol/src/federation"
	"github.com/nuvol-project/nuvol/src/node"
	"github.com/nuvol-project/nuvol/src/runtime"
)

// The adapters between the method table's small interfaces and the real
// packages. They only translate types and errors.

// backend is the api.Backend of the running daemon. It looks up the node,
// catalog and agent at each call, since a reload may replace them.
func (d *daemon) backend() api.Backend {
	return api.Backend{
		Apps:      appsAdapter{d},
		Catalog:   catalogAdapter{d},
		Community: communityAdapter{d},
		Info:      d.info,
		Version:   d.version,
		ValidName: config.ValidName,
		// The table reports the state each change leaves an app in; the
		// node's OnState adds the changes nobody asked for (a crash, a
		// restart by the reconciler). event drops a state told twice.
		Event: d.event,
	}
}

// info never calls into node or federation while holding d.mu: the node
// calls back (OnState -> event) with its own lock held.
func (d *daemon) info() api.NodeInfo {
	d.mu.Lock()
	inf := api.NodeInfo{ConfigError: d.cfgErr, FederationError: d.fedErr}
	if d.cfg != nil {
		inf.Node = d.cfg.Node.NameOrHost()
		inf.Cloud = d.cfg.Node.CloudName
		inf.Enabled = d.cfg.Node.Enabled
	}
	fed, n := d.fed, d.node
	d.mu.Unlock()
	if fed != nil {
		inf.Node = fed.NodeName()
	}
	if inf.ConfigError == "" && n != nil {
		// The node reads the file itself after its own writes.
		if err := n.ConfigError(); err != nil {
			inf.ConfigError = err.Error()
		}
	}
	return inf
}

// apiErr gives node and runtime errors the ubus status that fits.
func apiErr(err error) error {
	if err == nil {
		return nil
	}
	code := api.StatusUnknownError
	switch {
	case errors.Is(err, node.ErrNotFound), errors.Is(err, runtime.ErrNotFound):
		code = api.StatusNotFound
	case errors.Is(err, node.ErrInvalid), errors.Is(err, node.ErrConflict):
		code = api.StatusInvalidArgument
	case errors.Is(err, node.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		code = api.StatusTimeout
	default:
		if e := api.AsError(err); e.Code != api.StatusUnknownError {
			return err
		}
	}
	return &api.Error{Code: code, Message: err.Error()}
}

type appsAdapter struct{ d *daemon }

var errNoNode = api.Errorf(api.StatusNoData,
	"nuvol is not managing apps: its config is invalid (see `nuvol status`; fix it, then /etc/init.d/nuvol reload)")

func (a appsAdapter) node() (*node.Node, error) {
	a.d.mu.Lock()
	defer a.d.mu.Unlock()
	if a.d.node == nil {
		return nil, errNoNode
	}
	return a.d.node, nil
}

func (a appsAdapter) Install(ctx context.Context, r api.InstallRequest) (api.App, error) {
	n, err := a.node()
	if err != nil {
		return api.App{}, err
	}
	st, err := n.Install(ctx, node.InstallRequest{App: r.App, Name: r.Name, Port: r.Port, Memory: r.Memory})
	if err != nil {
		return api.App{}, apiErr(err)
	}
	return toApp(st), nil
}

func (a appsAdapter) do(ctx context.Context, name string, f func(*node.Node) error) error {
	n, err := a.node()
	if err != nil {
		return err
	}
	return apiErr(f(n))
}

func (a appsAdapter) Remove(ctx context.Context, name string) error {
	return a.do(ctx, name, func(n *node.Node) error { return n.Remove(ctx, name) })
}

func (a appsAdapter) Start(ctx context.Context, name string) error {
	return a.do(ctx, name, func(n *node.Node) error { return n.Start(ctx, name) })
}

func (a appsAdapter) Stop(ctx context.Context, name string) error {
	return a.do(ctx, name, func(n *node.Node) error { return n.Stop(ctx, name) })
}

func (a appsAdapter) Restart(ctx context.Context, name string) error {
	return a.do(ctx, name, func(n *node.Node) error { return n.Restart(ctx, name) })
}

func (a appsAdapter) SetPublish(ctx context.Context, name string, on bool) error {
	return a.do(ctx, name, func(n *node.Node) error { return n.SetPublish(ctx, name, on) })
}

func (a appsAdapter) List(ctx context.Context) ([]api.App, error) {
	n, err := a.node()
	if err == errNoNode {
		return nil, nil // status still works while the config is broken
	}
	sts, err := n.List(ctx)
	if err != nil {
		return nil, apiErr(err)
	}
	// An app is published only if it also fitted in the tag and the agent
	// is up to carry it.
	a.d.mu.Lock()
	fed := a.d.fed
	a.d.mu.Unlock()
	notFitted := map[string]bool{}
	if fed != nil {
		for _, s := range fed.NotFitted() {
			notFitted[s.Name] = true
		}
	}
	out := make([]api.App, 0, len(sts))
	for _, st := range sts {
		app := toApp(st)
		app.Published = st.Published && fed != nil && !notFitted[st.Name]
		// A host-network app is reached at the node's address (the one
		// it publishes), not at whichever interface LXC listed first.
		if app.Network == "" || app.Network == "host" || app.Address == "" {
			app.Address = a.d.pub.address()
		}
		out = append(out, app)
	}
	return out, nil
}

func (a appsAdapter) Logs(ctx context.Context, name string, lines int) ([]string, error) {
	n, err := a.node()
	if err != nil {
		return nil, err
	}
	l, err := n.Logs(name, lines)
	return l, apiErr(err)
}

func toApp(s node.AppStatus) api.App {
	return api.App{
		Name: s.Name, App: s.App, State: s.State, Enabled: s.Enabled,
		Port: s.Port, Memory: s.Memory, MemoryUsed: s.MemoryUsed, CPUWeight: s.CPUWeight,
		Publish: s.Publish, Published: s.Published, Description: s.Description,
		Network: s.Network, Address: s.Address, Error: s.Error, Orphan: s.Orphan,
	}
}

type catalogAdapter struct{ d *daemon }

func (c catalogAdapter) Apps() []api.CatalogApp {
	c.d.mu.Lock()
	cat := c.d.cat
	c.d.mu.Unlock()
	if cat == nil {
		return nil
	}
	ms := cat.All()
	sort.Slice(ms, func(i, j int) bool { return ms[i].ID < ms[j].ID })
	out := make([]api.CatalogApp, 0, len(ms))
	for _, m := range ms {
		out = append(out, api.CatalogApp{
			ID: m.ID, Name: m.Name, Description: m.Description, Type: m.Type,
			Version: m.Version, Source: m.Source.Type, Port: m.Port, Memory: m.Memory,
		})
	}
	return out
}

type communityAdapter struct{ d *daemon }

func (c communityAdapter) agent() *federation.Agent {
	c.d.mu.Lock()
	defer c.d.mu.Unlock()
	return c.d.fed
}

func (c communityAdapter) Search(q api.Query) []api.Service {
	a := c.agent()
	if a == nil {
		return nil
	}
	es := a.Search(federation.Query{Type: q.Type, Host: q.Host, Text: q.Text})
	out := make([]api.Service, 0, len(es))
	for _, e := range es {
		port, _ := strconv.Atoi(e.Port) // a peer's junk port shows as 0
		out = append(out, api.Service{
			Type: e.Type, Description: e.Description, Host: e.Host, Address: e.Address,
			Port: port, Device: e.Device, Extra: e.Extra,
			Node: e.Node, NodeStatus: e.NodeStatus, Nuvol: e.Nuvol,
		})
	}
	return out
}

func (c communityAdapter) Members() []api.Member {
	a := c.agent()
	if a == nil {
		return nil
	}
	ms := a.Members()
	out := make([]api.Member, 0, len(ms))
	for _, m := range ms {
		out = append(out, api.Member{Name: m.Name, Address: m.Addr, Port: m.Port, Status: m.Status, Nuvol: m.Nuvol, Services: m.Services})
	}
	return out
}

func (c communityAdapter) NotFitted() []api.NotFitted {
	a := c.agent()
	if a == nil {
		return nil
	}
	var out []api.NotFitted
	for _, s := range a.NotFitted() {
		port, _ := strconv.Atoi(s.Port)
		out = append(out, api.NotFitted{Name: s.Name, Type: s.Type, Port: port})
	}
	return out
}
