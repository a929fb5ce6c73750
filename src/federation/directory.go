package federation

import (
	"sort"
	"strings"
	"sync"
)

// Query filters a search. Empty fields match everything.
type Query struct {
	Type string // service type, exact, case-insensitive
	Host string // host (m) or node name, exact, case-insensitive
	Text string // substring of any field, case-insensitive; "_" matches " "
}

// Entry is one service of the community, as a search returns it.
type Entry struct {
	Service
	Node       string // serf member name (Cloudy's node_id)
	NodeStatus string // serf status: alive, leaving, left, failed
	Nuvol      bool   // the node runs nuvol (false: Cloudy or another serf node)
}

// Member is one node of the community.
type Member struct {
	Name     string
	Addr     string
	Port     int
	Status   string
	Nuvol    bool
	Services int // services the directory knows of
}

// node is what the directory keeps about one serf member.
type node struct {
	name   string
	addr   string
	port   int
	status string
	nuvol  bool
	marker marker // parsed "nuvol" tag, when nuvol

	tag     []Service // from the services tag
	full    []Service // from the nuvol-services query
	fullFor string    // hash the full list belongs to

	rawTag  string // the services tag as last seen
	badTag  string // last tag that failed to decode, to log it once
	updates int    // join and update events seen (tests wait on it)
}

// services is what a search shows for the node: the full list when it is
// current, else what the tag holds.
func (n *node) services() []Service {
	if n.nuvol && n.full != nil && n.fullFor == n.marker.hash {
		return n.full
	}
	return n.tag
}

// complete reports whether the node's services are all known.
func (n *node) complete() bool {
	if !n.nuvol {
		return true
	}
	return len(n.tag) >= n.marker.total || (n.full != nil && n.fullFor == n.marker.hash)
}

// Directory is the community's services, kept in memory. It is safe for
// concurrent use; the agent feeds it from serf's member events.
type Directory struct {
	mu    sync.RWMutex
	nodes map[string]*node
}

// NewDirectory returns an empty directory.
func NewDirectory() *Directory {
	return &Directory{nodes: make(map[string]*node)}
}

// Search returns the services of alive nodes that match q, sorted by type,
// host, port and node. It never waits on the network.
func (d *Directory) Search(q Query) []Entry {
	typ := strings.ToLower(strings.TrimSpace(q.Type))
	host := strings.ToLower(strings.TrimSpace(q.Host))
	text := normText(strings.TrimSpace(q.Text))

	d.mu.RLock()
	var out []Entry
	for _, n := range d.nodes {
		if n.status != "alive" {
			continue // left or failed nodes drop out of search at once
		}
		for _, s := range n.services() {
			if typ != "" && strings.ToLower(s.Type) != typ {
				continue
			}
			if host != "" && strings.ToLower(s.Host) != host && strings.ToLower(n.name) != host {
				continue
			}
			if text != "" && !matchText(s, n.name, text) {
				continue
			}
			out = append(out, Entry{Service: s, Node: n.name, NodeStatus: n.status, Nuvol: n.nuvol})
		}
	}
	d.mu.RUnlock()

	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		if a.Host != b.Host {
			return a.Host < b.Host
		}
		if a.Port != b.Port {
			return portLess(a.Port, b.Port)
		}
		if a.Node != b.Node {
			return a.Node < b.Node
		}
		return a.Description < b.Description
	})
	return out
}

// Members lists every node the directory knows, sorted by name.
func (d *Directory) Members() []Member {
	d.mu.RLock()
	out := make([]Member, 0, len(d.nodes))
	for _, n := range d.nodes {
		out = append(out, Member{Name: n.name, Addr: n.addr, Port: n.port, Status: n.status,
			Nuvol: n.nuvol, Services: len(n.services())})
	}
	d.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Len is the number of services alive nodes publish.
func (d *Directory) Len() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	n := 0
	for _, nd := range d.nodes {
		if nd.status == "alive" {
			n += len(nd.services())
		}
	}
	return n
}

func (d *Directory) remove(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.nodes[name]
	delete(d.nodes, name)
	return ok
}

// update changes or adds one node under the lock.
func (d *Directory) update(name string, fn func(n *node)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.nodes[name]
	if n == nil {
		n = &node{name: name}
		d.nodes[name] = n
	}
	fn(n)
}

// view reads one node under the lock.
func (d *Directory) view(name string, fn func(n *node)) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	n := d.nodes[name]
	if n == nil {
		return false
	}
	fn(n)
	return true
}

func normText(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), "_", " ")
}

func matchText(s Service, nodeName, text string) bool {
	for _, f := range [...]string{s.Type, s.Description, s.Host, s.Address, s.Port, s.Device, s.Extra, nodeName} {
		if strings.Contains(normText(f), text) {
			return true
		}
	}
	return false
}

// portLess orders ports as numbers when both are, else as text.
func portLess(a, b string) bool {
	if len(a) != len(b) && isDigits(a) && isDigits(b) {
		return len(a) < len(b)
	}
	return a < b
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
