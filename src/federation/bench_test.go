package federation

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"
)

// benchServices is what a router typically publishes: five apps.
func benchServices(node string, k int) []Service {
	types := []string{"kanban", "syncthing", "web", "peerstreamer", "nextcloud"}
	var out []Service
	for i, typ := range types {
		out = append(out, Service{Name: typ, Type: typ, Description: strings.ToUpper(typ[:1]) + typ[1:] + " of " + node,
			Host: node + ".guifi.local", Address: fmt.Sprintf("10.139.%d.%d", k/250, k%250+1),
			Port: fmt.Sprint(8080 + i), Device: "demo"})
	}
	return out
}

// filledDirectory is 50 nodes x 5 services, as the agent would keep them.
func filledDirectory() *Directory {
	d := NewDirectory()
	for k := 0; k < 50; k++ {
		name := cloudyName(fmt.Sprint(k), 5000)
		svcs := benchServices(fmt.Sprintf("node%02d", k), k)
		d.update(name, func(n *node) { n.status, n.tag = "alive", svcs })
	}
	return d
}

// BenchmarkSearch50 is nuvol's search over 50 nodes x 5 services.
func BenchmarkSearch50(b *testing.B) {
	d := filledDirectory()
	for _, q := range []Query{{}, {Type: "kanban"}, {Text: "node17"}} {
		b.Run(fmt.Sprintf("%+v", q), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				d.Search(q)
			}
		})
	}
}

func BenchmarkDecodeTag(b *testing.B) {
	tag, _, _ := EncodeTag(benchServices("node01", 1))
	for i := 0; i < b.N; i++ {
		if _, err := DecodeTag(tag); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeTag(b *testing.B) {
	svcs := benchServices("node01", 1)
	for i := 0; i < b.N; i++ {
		if _, _, err := EncodeTag(svcs); err != nil {
			b.Fatal(err)
		}
	}
}

// benchConfig is a node with nuvol's own serf profile (not the test tuning).
func benchConfig(t testing.TB, name string) Config {
	cfg := testConfig(t, name)
	cfg.tune = nil
	cfg.timing = timing{}
	return cfg
}

// TestFederationBench measures, on loopback, in one run (make bench sets
// NUVOL_BENCH=1):
//   - the median time from Publish on one node until another node's
//     Search shows the service, with nuvol's serf profile;
//   - the time until 50 nodes (in-process serf instances) all see each
//     other's 5 services;
//   - one search over those 50 x 5 services from memory, against Cloudy's
//     way: `serf members -format json` on a serf agent in the same cluster,
//     then `base64 -d | bunzip2` for each node's tag.
func TestFederationBench(t *testing.T) {
	if os.Getenv("NUVOL_BENCH") == "" {
		t.Skip("set NUVOL_BENCH=1 (make bench does)")
	}
	needTools(t, "serf", "bzip2", "base64")

	// 1. Publish -> search, two nodes, nuvol's profile.
	a, err := Start(benchConfig(t, "bench-a"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Shutdown()
	cb := benchConfig(t, "bench-b")
	cb.Join = []string{a.addrPort()}
	b, err := Start(cb)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown()
	eventually(t, "two nodes meet", func() bool { return len(b.Members()) == 2 && len(a.Members()) == 2 })
	var lat []time.Duration
	for i := 0; i < 11; i++ {
		// A quiet cluster before each publish: serf's SetTags waits until
		// the previous update was gossiped RetransmitMult times (~0.8 s
		// here), and back-to-back publishes would measure that queue.
		time.Sleep(time.Second)
		typ := fmt.Sprintf("bench%d", i)
		start := time.Now()
		if _, err := a.Publish([]Service{{Type: typ, Port: "80"}}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "b finds "+typ, func() bool { return len(b.Search(Query{Type: typ})) == 1 })
		lat = append(lat, time.Since(start))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	median := lat[len(lat)/2]

	// How long a node that leaves, and one that dies, stay in search.
	cc := benchConfig(t, "bench-c")
	cc.Join = []string{a.addrPort()}
	c, err := Start(cc)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown()
	c.Publish([]Service{{Type: "leaving", Port: "1"}})
	eventually(t, "a finds c", func() bool { return len(a.Search(Query{Type: "leaving"})) == 1 })
	s0 := time.Now()
	c.Leave()
	leaveReturned := time.Since(s0)
	eventually(t, "c drops out", func() bool { return len(a.Search(Query{Type: "leaving"})) == 0 })
	leaveGone := time.Since(s0)
	b.Publish([]Service{{Type: "dying", Port: "1"}})
	eventually(t, "a finds b's", func() bool { return len(a.Search(Query{Type: "dying"})) == 1 })
	s0 = time.Now()
	b.Shutdown() // no leave: as a power cut
	for deadline := time.Now().Add(2 * time.Minute); len(a.Search(Query{Type: "dying"})) != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a dead node stayed in search for 2 minutes")
		}
	}
	failGone := time.Since(s0)

	// 2. Fifty nodes, five services each.
	const nodes = 50
	start := time.Now()
	var agents []*Agent
	for k := 0; k < nodes; k++ {
		cfg := benchConfig(t, cloudyName(fmt.Sprint(k), 5000))
		if k > 0 {
			cfg.Join = []string{agents[0].addrPort()}
		}
		ag, err := Start(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer ag.Shutdown()
		if _, err := ag.Publish(benchServices(fmt.Sprintf("node%02d", k), k)); err != nil {
			t.Fatal(err)
		}
		agents = append(agents, ag)
	}
	started := time.Since(start)
	// The machine is shared: give convergence two minutes, and say how far
	// it got if that was not enough.
	least := 0
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		least = nodes * 5
		for _, ag := range agents {
			least = min(least, ag.Directory().Len())
		}
		if least == nodes*5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 2 minutes a node still sees only %d of %d services", least, nodes*5)
		}
	}
	converge := time.Since(start)

	// 3. Search: nuvol from memory vs Cloudy's shell way.
	agent := startSerfAgent(t, "bench-cloudy")
	if n, err := agents[0].Join(agent.addr()); err != nil || n == 0 {
		t.Fatalf("agent join: %v", err)
	}
	eventually(t, "the agent sees 50 tags", func() bool {
		n := 0
		for _, m := range agent.members(t) {
			if m.Tags["services"] != "" && m.Status == "alive" {
				n++
			}
		}
		return n == nodes
	})
	const runs = 5
	var cloudy time.Duration
	var cloudyFound int
	for r := 0; r < runs; r++ {
		s := time.Now()
		cloudyFound = cloudySearch(t, agent, "kanban")
		cloudy += time.Since(s)
	}
	cloudy /= runs
	iters := 2000
	var found int
	s := time.Now()
	for i := 0; i < iters; i++ {
		found = len(agents[1].Search(Query{Type: "kanban"}))
	}
	mem := time.Since(s) / time.Duration(iters)
	if found != nodes || cloudyFound != nodes {
		t.Fatalf("kanban found: nuvol %d, Cloudy's way %d, want %d", found, cloudyFound, nodes)
	}

	fmt.Printf("federation: publish -> search on a second node, median of %d: %v (min %v, max %v)\n",
		len(lat), median.Round(time.Millisecond), lat[0].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
	fmt.Printf("federation: a node that leaves is out of search %v after Leave was called (Leave returned after %v); one that dies (no leave, 2 nodes left) after %v\n",
		leaveGone.Round(time.Millisecond), leaveReturned.Round(time.Millisecond), failGone.Round(time.Millisecond))
	fmt.Printf("federation: %d nodes x 5 services: started in %v, all see all %d services after %v\n",
		nodes, started.Round(time.Millisecond), nodes*5, converge.Round(time.Millisecond))
	fmt.Printf("federation: search type=kanban over %d x 5: nuvol from memory %v, Cloudy's way (serf members + base64 -d | bunzip2 per node) %v; ratio %.0fx\n",
		nodes, mem, cloudy.Round(time.Millisecond), float64(cloudy)/float64(mem))
}

// cloudySearch searches the way Cloudy's avahi-ps serf plug-in does: list
// the members, then one shell pipeline per node to decode its tag.
func cloudySearch(t testing.TB, agent *serfAgent, typ string) int {
	out, err := exec.Command("serf", "members", agent.rpcFlag(), "-status=alive", "-format", "json").Output()
	if err != nil {
		t.Fatalf("serf members: %v", err)
	}
	var v struct{ Members []agentMember }
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, m := range v.Members {
		tag := m.Tags["services"]
		if tag == "" {
			continue
		}
		cmd := exec.Command("sh", "-c", `printf %s "$1" | base64 -d | bunzip2`, "sh", tag)
		js, err := cmd.Output()
		if err != nil {
			continue
		}
		var list []map[string]string
		if json.Unmarshal(js, &list) != nil {
			continue
		}
		for _, s := range list {
			if s["s"] == typ {
				found++
			}
		}
	}
	return found
}
