package api

import (
	"context"
	"fmt"
	"sync"
)

// fakeApps is an in-memory Apps that records the calls that reached it.
type fakeApps struct {
	mu    sync.Mutex
	apps  []App
	calls []string
	fail  error // returned by every changing call when set
}

func (f *fakeApps) record(s string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
	return f.fail
}

func (f *fakeApps) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeApps) Install(_ context.Context, r InstallRequest) (App, error) {
	if err := f.record(fmt.Sprintf("install %s %s %d %d", r.App, r.Name, r.Port, r.Memory)); err != nil {
		return App{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	port := r.Port
	if port == 0 {
		port = 8080
	}
	a := App{Name: r.Name, App: r.App, State: "running", Enabled: true, Port: port, Memory: 64}
	f.apps = append(f.apps, a)
	return a, nil
}

func (f *fakeApps) set(name string, fn func(a *App)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.apps {
		if f.apps[i].Name == name {
			fn(&f.apps[i])
		}
	}
}

func (f *fakeApps) Remove(_ context.Context, name string) error {
	if err := f.record("remove " + name); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.apps {
		if f.apps[i].Name == name {
			f.apps = append(f.apps[:i], f.apps[i+1:]...)
			break
		}
	}
	return nil
}

func (f *fakeApps) Start(_ context.Context, name string) error {
	if err := f.record("start " + name); err != nil {
		return err
	}
	f.set(name, func(a *App) { a.State = "running" })
	return nil
}

func (f *fakeApps) Stop(_ context.Context, name string) error {
	if err := f.record("stop " + name); err != nil {
		return err
	}
	f.set(name, func(a *App) { a.State = "stopped" })
	return nil
}

func (f *fakeApps) Restart(_ context.Context, name string) error {
	return f.record("restart " + name)
}

func (f *fakeApps) SetPublish(_ context.Context, name string, on bool) error {
	if err := f.record(fmt.Sprintf("publish %s %v", name, on)); err != nil {
		return err
	}
	f.set(name, func(a *App) { a.Publish, a.Published = on, on })
	return nil
}

func (f *fakeApps) List(context.Context) ([]App, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]App(nil), f.apps...), nil
}

func (f *fakeApps) Logs(_ context.Context, name string, lines int) ([]string, error) {
	out := []string{}
	for i := 0; i < lines && i < 3; i++ {
		out = append(out, fmt.Sprintf("%s line %d", name, i))
	}
	return out, nil
}

type fakeCatalog []CatalogApp

func (c fakeCatalog) Apps() []CatalogApp { return c }

type fakeCommunity struct {
	services []Service
	members  []Member
	nf       []NotFitted
	lastQ    Query
}

func (c *fakeCommunity) Search(q Query) []Service { c.lastQ = q; return c.services }
func (c *fakeCommunity) Members() []Member        { return c.members }
func (c *fakeCommunity) NotFitted() []NotFitted   { return c.nf }

// newFake builds a table on fakes with one installed app, "web".
func newFake() (*Table, *fakeApps, *fakeCommunity, *[]string) {
	apps := &fakeApps{apps: []App{{Name: "web", App: "static-web", State: "running", Enabled: true, Port: 8080, Memory: 64}}}
	com := &fakeCommunity{
		services: []Service{{Type: "static-web", Description: "A page", Host: "n1.guifi.local", Address: "10.0.0.1", Port: 8080, Device: "demo", Node: "n1", NodeStatus: "alive", Nuvol: true}},
		members:  []Member{{Name: "n1", Address: "127.0.0.1", Port: 5000, Status: "alive", Nuvol: true, Services: 1}, {Name: "c1", Status: "failed"}},
		nf:       []NotFitted{{Name: "big", Type: "wiki", Port: 9000}},
	}
	var events []string
	t := New(Backend{
		Apps:      apps,
		Catalog:   fakeCatalog{{ID: "static-web", Name: "Static web", Type: "static-web", Port: 8080, Memory: 16}, {ID: "kanban", Name: "Kanban"}},
		Community: com,
		Info:      func() NodeInfo { return NodeInfo{Node: "n1", Cloud: "guifi", Enabled: true} },
		Version:   "1.2.3",
		Event: func(ev string, d map[string]any) {
			events = append(events, fmt.Sprintf("%s %v %v", ev, d["name"], d["state"]))
		},
	})
	return t, apps, com, &events
}
