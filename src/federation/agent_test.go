package federation

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

func TestPublishSearch(t *testing.T) {
	a := startAgent(t, "alpha", nil)
	var changes atomic.Int32
	b := startAgent(t, "beta", func(c *Config) { c.Join = []string{a.addrPort()} })
	b.OnChange(func() { changes.Add(1) })

	svcs := []Service{
		{Name: "web", Type: "web", Description: "My home page", Port: "80"},
		{Name: "board", Type: "kanban", Description: "Team <b>board</b>", Port: "8080", Extra: "lang=ca"},
		{Name: "sync", Type: "syncthing", Description: "Files", Port: "8384", Host: "other.guifi.local"},
	}
	nf, err := a.Publish(svcs)
	if err != nil || len(nf) != 0 {
		t.Fatalf("Publish: not fitted %v, %v", nf, err)
	}
	eventually(t, "beta sees alpha's 3 services", func() bool { return len(searchNode(b, Query{}, "alpha")) == 3 })

	got := searchNode(b, Query{Type: "KANBAN"}, "alpha")
	if len(got) != 1 {
		t.Fatalf("type search: %v", got)
	}
	e := got[0]
	want := Service{Type: "kanban", Description: "Team_<b>board</b>", Host: "alpha.guifi.local", Address: "127.0.0.1",
		Port: "8080", Device: "demo", Extra: "lang=ca"}
	if e.Service != want || e.Node != "alpha" || e.NodeStatus != "alive" || !e.Nuvol {
		t.Fatalf("entry %+v, want %+v on alpha, alive, nuvol", e, want)
	}
	for _, tt := range []struct {
		q    Query
		want int
	}{
		{Query{Host: "other.guifi.local"}, 1},
		{Query{Host: "alpha.guifi.local"}, 2},
		{Query{Host: "alpha"}, 3}, // the node name
		{Query{Text: "home page"}, 1},
		{Query{Text: "HOME_PAGE"}, 1},
		{Query{Text: "lang=ca"}, 1},
		{Query{Text: "nothing like it"}, 0},
		{Query{Type: "web", Text: "board"}, 0},
	} {
		if got := searchNode(b, tt.q, "alpha"); len(got) != tt.want {
			t.Errorf("Search(%+v): %d entries, want %d", tt.q, len(got), tt.want)
		}
	}
	// A node finds its own services too, as Cloudy's search does.
	if got := searchNode(a, Query{}, "alpha"); len(got) != 3 {
		t.Errorf("alpha's own search: %d entries", len(got))
	}
	if changes.Load() == 0 {
		t.Errorf("OnChange never called")
	}

	// Unpublishing one, then all.
	if _, err := a.Publish(svcs[:1]); err != nil {
		t.Fatal(err)
	}
	eventually(t, "beta sees 1 service", func() bool { return len(searchNode(b, Query{}, "alpha")) == 1 })
	if _, err := a.Publish(nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "beta sees none", func() bool { return len(searchNode(b, Query{}, "alpha")) == 0 })

	ms := b.Members()
	if len(ms) != 2 || ms[0].Name != "alpha" || !ms[0].Nuvol || ms[0].Status != "alive" || ms[0].Port != a.cfg.BindPort {
		t.Fatalf("Members: %+v", ms)
	}
}

func TestPublishRejects(t *testing.T) {
	a := startAgent(t, "solo", nil)
	if _, err := a.Publish([]Service{{Name: "x", Port: "80"}}); err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Fatalf("service without type: %v", err)
	}
	// A second service with the same type and port replaces nothing: it is reported.
	nf, err := a.Publish([]Service{{Name: "a", Type: "web", Port: "80"}, {Name: "b", Type: "web", Port: "80"}})
	if err != nil || len(nf) != 1 || nf[0].Name != "b" {
		t.Fatalf("duplicate: %v %v", nf, err)
	}
}

func TestStartErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"short key", func(c *Config) { c.EncryptKey = "c2hvcnQ=" }, "5 bytes"},
		{"bad key", func(c *Config) { c.EncryptKey = "%%%" }, "not base64"},
		{"bad bind", func(c *Config) { c.BindAddr = "router" }, "not an IP"},
		{"bad advertise", func(c *Config) { c.AdvertiseAddr = "10.0.0.1:http" }, "not a port"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, "x")
			tt.mod(&cfg)
			a, err := Start(cfg)
			if err == nil {
				a.Shutdown()
				t.Fatalf("Start succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Start: %v, want %q", err, tt.want)
			}
		})
	}
}

// The join list is retried until a member answers.
func TestJoinRetried(t *testing.T) {
	port := freePort(t)
	b := startAgent(t, "late-joiner", func(c *Config) { c.Join = []string{"127.0.0.1:" + itoa(port)} })
	a := startAgent(t, "first", func(c *Config) { c.BindPort = port })
	if _, err := a.Publish([]Service{{Type: "web", Port: "80"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the late joiner finds first's service", func() bool { return len(searchNode(b, Query{}, "first")) == 1 })
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// With an encryption key, a node without it cannot join and sees nothing.
func TestEncryption(t *testing.T) {
	key := "cg8StVXbQJ0gPvMd9o7yrg==" // serf keygen
	a := startAgent(t, "keyed-a", func(c *Config) { c.EncryptKey = key })
	b := startAgent(t, "keyed-b", func(c *Config) { c.EncryptKey = key; c.Join = []string{a.addrPort()} })
	if _, err := a.Publish([]Service{{Type: "secret", Port: "1"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "keyed-b sees the service", func() bool { return len(searchNode(b, Query{}, "keyed-a")) == 1 })

	for name, k := range map[string]string{"no key": "", "other key": "HvY8ubRZMgafUOWvrOadwOckVa1wN3QWAo46FVKbVN8="} {
		c := startAgent(t, "outsider", func(c *Config) { c.EncryptKey = k })
		if n, err := c.Join(a.addrPort()); err == nil || n != 0 {
			t.Fatalf("%s: joined %d nodes, err %v", name, n, err)
		}
		if got := c.Search(Query{}); len(got) != 0 {
			t.Fatalf("%s: sees %v", name, got)
		}
		for _, m := range a.Members() {
			if m.Name == "outsider" {
				t.Fatalf("%s: keyed-a lists the outsider", name)
			}
		}
		c.Shutdown()
	}
}

// A restarted node rejoins the members its snapshot names, with no join list.
func TestSnapshotRejoin(t *testing.T) {
	snap := filepath.Join(t.TempDir(), "serf", "snapshot")
	a := startAgent(t, "anchor", nil)
	if _, err := a.Publish([]Service{{Type: "web", Port: "80"}}); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, "restarting")
	cfg.SnapshotPath, cfg.Join = snap, []string{a.addrPort()}
	b, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "first run sees anchor", func() bool { return len(searchNode(b, Query{}, "anchor")) == 1 })
	if err := b.Leave(); err != nil {
		t.Fatal(err)
	}
	b.Shutdown()
	if _, err := os.Stat(snap); err != nil {
		t.Fatalf("no snapshot: %v", err)
	}

	cfg.Join = nil
	b2, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Shutdown()
	eventually(t, "restarted node sees anchor again", func() bool { return len(searchNode(b2, Query{}, "anchor")) == 1 })
	eventually(t, "anchor sees it alive again", func() bool {
		for _, m := range a.Members() {
			if m.Name == "restarting" {
				return m.Status == "alive"
			}
		}
		return false
	})
}

// Twenty services between nuvol nodes: the tag holds some, the query the rest.
func TestTwentyServicesNuvolPeer(t *testing.T) {
	a := startAgent(t, "big", nil)
	b := startAgent(t, "peer", func(c *Config) { c.Join = []string{a.addrPort()} })
	nf, err := a.Publish(services(20, "big"))
	if err != nil {
		t.Fatal(err)
	}
	if len(nf) == 0 || len(nf) == 20 {
		t.Fatalf("not fitted: %d", len(nf))
	}
	eventually(t, "peer sees all twenty", func() bool { return len(searchNode(b, Query{}, "big")) == 20 })
	// A change beyond the tag is seen too.
	more := append(services(20, "big"), Service{Type: "zzz-last", Port: "9999", Description: "added later"})
	if _, err := a.Publish(more); err != nil {
		t.Fatal(err)
	}
	eventually(t, "peer sees the 21st", func() bool { return len(searchNode(b, Query{Type: "zzz-last"}, "big")) == 1 })
}
