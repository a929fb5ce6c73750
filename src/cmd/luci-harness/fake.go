package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/nuvol-project/nuvol/src/api"
)

// NewFake returns the real method table over an in-memory node: a small
// catalog, apps that start at once, and a community with a Cloudy peer whose
// description is an HTML injection attempt. It lets the views be developed
// and the harness be tested without containers.
func NewFake() *api.Table {
	f := &fakeNode{apps: map[string]*api.App{}}
	return api.New(api.Backend{
		Apps: f, Catalog: f, Community: f, Version: "fake",
		Info: func() api.NodeInfo { return api.NodeInfo{Node: "fake-node", Cloud: "guifi", Enabled: true} },
	})
}

type fakeNode struct {
	mu   sync.Mutex
	apps map[string]*api.App
}

var fakeCatalog = []api.CatalogApp{
	{ID: "static-web", Name: "Static web site", Description: "A small web server for your own pages.", Type: "web", Version: "1.0", Source: "busybox", Port: 8080, Memory: 16},
	{ID: "file-share", Name: "File share", Description: "Shares files over HTTP.", Type: "fileshare", Version: "1.0", Source: "busybox", Port: 8081, Memory: 16},
	{ID: "kanban", Name: "Kanban board", Description: "Kanboard, a Kanban project management board.", Type: "kanban", Version: "1.2.40", Source: "images", Port: 8082, Memory: 128},
}

func (f *fakeNode) Apps() []api.CatalogApp { return fakeCatalog }

func (f *fakeNode) Install(_ context.Context, req api.InstallRequest) (api.App, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var c *api.CatalogApp
	for i := range fakeCatalog {
		if fakeCatalog[i].ID == req.App {
			c = &fakeCatalog[i]
		}
	}
	if c.Source == "images" {
		return api.App{}, api.Errorf(api.StatusConnectionFailed, "cannot download the %s image: no network", c.ID)
	}
	a := &api.App{Name: req.Name, App: req.App, State: "running", Enabled: true, Port: req.Port,
		Memory: req.Memory, MemoryUsed: 3 << 20, CPUWeight: 100, Network: "host", Address: "127.0.0.1",
		Description: c.Name}
	if a.Port == 0 {
		a.Port = c.Port
	}
	if a.Memory == 0 {
		a.Memory = c.Memory
	}
	f.apps[a.Name] = a
	return *a, nil
}

func (f *fakeNode) get(name string) (*api.App, error) {
	a, ok := f.apps[name]
	if !ok {
		return nil, api.Errorf(api.StatusNotFound, "no app %q", name)
	}
	return a, nil
}

func (f *fakeNode) Remove(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.get(name); err != nil {
		return err
	}
	delete(f.apps, name)
	return nil
}

func (f *fakeNode) setState(name, state string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, err := f.get(name)
	if err != nil {
		return err
	}
	a.State = state
	a.MemoryUsed = 0
	if state == "running" {
		a.MemoryUsed = 3 << 20
	}
	return nil
}

func (f *fakeNode) Start(_ context.Context, name string) error   { return f.setState(name, "running") }
func (f *fakeNode) Stop(_ context.Context, name string) error    { return f.setState(name, "stopped") }
func (f *fakeNode) Restart(_ context.Context, name string) error { return f.setState(name, "running") }

func (f *fakeNode) SetPublish(_ context.Context, name string, on bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, err := f.get(name)
	if err != nil {
		return err
	}
	a.Publish, a.Published = on, on && a.State == "running"
	return nil
}

func (f *fakeNode) List(context.Context) ([]api.App, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]api.App, 0, len(f.apps))
	for _, a := range f.apps {
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (f *fakeNode) Logs(_ context.Context, name string, lines int) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.get(name); err != nil {
		return nil, err
	}
	return []string{fmt.Sprintf("%s: started", name), "<b>not bold</b>: logs are text"}, nil
}

func (f *fakeNode) Search(q api.Query) []api.Service {
	f.mu.Lock()
	defer f.mu.Unlock()
	all := []api.Service{
		{Type: "kanban", Description: "Team board", Host: "node7.guifi.local", Address: "10.139.40.85", Port: 8080, Device: "demo", Node: "3f0c9a1e-5000", NodeStatus: "alive"},
		{Type: "web", Description: `<img src=x onerror=alert(1)>`, Host: "evil.guifi.local", Address: "10.139.40.86", Port: 80, Device: "demo", Node: "evil-5000", NodeStatus: "alive"},
	}
	for _, a := range f.apps {
		if a.Published {
			all = append(all, api.Service{Type: a.App, Description: a.Description, Host: "fake-node.guifi.local",
				Address: a.Address, Port: a.Port, Device: "demo", Node: "fake-node", NodeStatus: "alive", Nuvol: true})
		}
	}
	var out []api.Service
	for _, s := range all {
		if q.Type != "" && s.Type != q.Type || q.Host != "" && s.Host != q.Host {
			continue
		}
		if q.Text != "" && !strings.Contains(strings.ToLower(s.Description+" "+s.Host+" "+s.Type), strings.ToLower(q.Text)) {
			continue
		}
		out = append(out, s)
	}
	return out
}

func (f *fakeNode) Members() []api.Member {
	return []api.Member{
		{Name: "fake-node", Address: "127.0.0.1", Port: 5000, Status: "alive", Nuvol: true},
		{Name: "3f0c9a1e-5000", Address: "10.139.40.85", Port: 5000, Status: "alive", Services: 1},
		{Name: "evil-5000", Address: "10.139.40.86", Port: 5000, Status: "failed", Services: 1},
	}
}

func (f *fakeNode) NotFitted() []api.NotFitted {
	return []api.NotFitted{{Name: "big", Type: "web", Port: 9000}}
}
