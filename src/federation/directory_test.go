package federation

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

func TestDirectorySearch(t *testing.T) {
	d := NewDirectory()
	d.update("cloudy", func(n *node) {
		n.status = "alive"
		n.tag = []Service{{Type: "web", Host: "c.guifi.local", Port: "8080"}, {Type: "web", Host: "c.guifi.local", Port: "80"}}
	})
	d.update("gone", func(n *node) { n.status = "left"; n.tag = []Service{{Type: "web", Port: "1"}} })
	d.update("dead", func(n *node) { n.status = "failed"; n.tag = []Service{{Type: "web", Port: "2"}} })
	d.update("router", func(n *node) {
		n.status, n.nuvol, n.marker = "alive", true, marker{total: 2, hash: "h1"}
		n.tag = []Service{{Type: "kanban", Port: "1"}}
		n.full, n.fullFor = []Service{{Type: "kanban", Port: "1"}, {Type: "apps", Port: "9"}}, "h1"
	})
	got := d.Search(Query{})
	var order []string
	for _, e := range got {
		order = append(order, e.Node+":"+e.Type+":"+e.Port)
	}
	// Sorted by type, then host, then port as a number.
	want := []string{"router:apps:9", "router:kanban:1", "cloudy:web:80", "cloudy:web:8080"}
	if len(order) != len(want) {
		t.Fatalf("Search: %v, want %v", order, want)
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("Search: %v, want %v", order, want)
		}
	}
	if d.Len() != 4 {
		t.Fatalf("Len %d", d.Len())
	}
	// A stale full list (another hash) is not shown: the tag is.
	d.update("router", func(n *node) { n.marker.hash = "h2" })
	if got := d.Search(Query{Host: "router"}); len(got) != 1 {
		t.Fatalf("stale full list shown: %v", got)
	}
	if d.remove("router"); len(d.Members()) != 3 {
		t.Fatalf("Members after remove: %v", d.Members())
	}
}

func TestNodeID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "etc", "nuvol", "node_id")
	id, err := NodeID(path, 5000)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}-5000$`).MatchString(id) {
		t.Fatalf("NodeID %q is not Cloudy's form", id)
	}
	again, err := NodeID(path, 5001)
	if err != nil || again[:32] != id[:32] || again[33:] != "5001" {
		t.Fatalf("NodeID again: %q %v", again, err)
	}
	os.WriteFile(path, []byte("garbage"), 0o644)
	if fresh, err := NodeID(path, 5000); err != nil || fresh[:32] == id[:32] {
		t.Fatalf("NodeID over garbage: %q %v", fresh, err)
	}
}
