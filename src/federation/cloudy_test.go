package federation

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// serfAgent is the plain serf agent, run as a Cloudy node runs it.
type serfAgent struct {
	name      string
	port, rpc int
	out       *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// cloudyName is a node name as Cloudy makes one: 32 hex digits and the port.
func cloudyName(seed string, port int) string {
	sum := md5.Sum([]byte(seed))
	return hex.EncodeToString(sum[:]) + "-" + strconv.Itoa(port)
}

func startSerfAgent(t testing.TB, seed string, extra ...string) *serfAgent {
	t.Helper()
	needTools(t, "serf", "bzip2", "base64")
	s := &serfAgent{port: freePort(t), rpc: freePort(t), out: &lockedBuffer{}}
	s.name = cloudyName(seed, s.port)
	args := append([]string{"agent", "-node=" + s.name, fmt.Sprintf("-bind=127.0.0.1:%d", s.port),
		fmt.Sprintf("-rpc-addr=127.0.0.1:%d", s.rpc), "-log-level=warn"}, extra...)
	cmd := exec.Command("serf", args...)
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("serf agent: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("serf agent output:\n%s", s.out.String())
		}
	})
	eventually(t, "the serf agent answers on RPC", func() bool {
		return exec.Command("serf", "members", s.rpcFlag()).Run() == nil
	})
	return s
}

func (s *serfAgent) rpcFlag() string { return fmt.Sprintf("-rpc-addr=127.0.0.1:%d", s.rpc) }
func (s *serfAgent) addr() string    { return fmt.Sprintf("127.0.0.1:%d", s.port) }

// publishJSON sets the agent's services tag the way Cloudy's avahi-ps does,
// with the real shell tools.
func (s *serfAgent) publishJSON(t testing.TB, js string) {
	t.Helper()
	tag := strings.TrimSpace(string(shell(t, "bzip2 | base64 -w 0", []byte(js))))
	s.setTag(t, tag)
}

func (s *serfAgent) setTag(t testing.TB, tag string) {
	t.Helper()
	if out, err := exec.Command("serf", "tags", s.rpcFlag(), "-set", "services="+tag).CombinedOutput(); err != nil {
		t.Fatalf("serf tags: %v: %s", err, out)
	}
}

type agentMember struct {
	Name   string            `json:"name"`
	Addr   string            `json:"addr"`
	Tags   map[string]string `json:"tags"`
	Status string            `json:"status"`
}

func (s *serfAgent) members(t testing.TB) []agentMember {
	t.Helper()
	out, err := exec.Command("serf", "members", s.rpcFlag(), "-format", "json").Output()
	if err != nil {
		t.Fatalf("serf members: %v", err)
	}
	var v struct{ Members []agentMember }
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("serf members json: %v: %s", err, out)
	}
	return v.Members
}

// cloudyView is what a Cloudy node's search reads for one member:
// `serf members -format json`, then `base64 -d | bunzip2` of its tag.
func (s *serfAgent) cloudyView(t testing.TB, member string) []map[string]any {
	t.Helper()
	for _, m := range s.members(t) {
		if m.Name != member || m.Tags["services"] == "" {
			continue
		}
		js := shell(t, "base64 -d | bunzip2", []byte(m.Tags["services"]))
		var v []map[string]any
		if err := json.Unmarshal(js, &v); err != nil {
			t.Fatalf("Cloudy cannot parse %s: %v", js, err)
		}
		return v
	}
	return nil
}

func TestCloudyAgent(t *testing.T) {
	agent := startSerfAgent(t, "cloudy-1")
	n := startAgent(t, "nuvol-router", func(c *Config) { c.Join = []string{agent.addr()} })
	peer := startAgent(t, "nuvol-peer", func(c *Config) { c.Join = []string{agent.addr()} })

	t.Run("nuvol finds what Cloudy publishes", func(t *testing.T) {
		agent.publishJSON(t, `[{"s":"kanban","d":"Kanban_board","m":"cloudy1.guifi.local","i":"10.139.40.85","p":"8080","e":"demo","t":"node_id=abc"}]`)
		eventually(t, "search lists the agent's kanban", func() bool { return len(searchNode(n, Query{Type: "kanban"}, agent.name)) == 1 })
		e := searchNode(n, Query{Type: "kanban"}, agent.name)[0]
		want := Service{Type: "kanban", Description: "Kanban_board", Host: "cloudy1.guifi.local", Address: "10.139.40.85", Port: "8080", Device: "demo", Extra: "node_id=abc"}
		if e.Service != want || e.Nuvol || e.NodeStatus != "alive" {
			t.Fatalf("entry %+v", e)
		}
		if got := n.Search(Query{Host: "cloudy1.guifi.local", Text: "kanban board"}); len(got) != 1 {
			t.Fatalf("host+text search: %v", got)
		}
	})

	t.Run("single-quoted JSON from older Cloudy", func(t *testing.T) {
		agent.publishJSON(t, `[{'s':'peerstreamer','d':'Live_TV','m':'cloudy1.guifi.local','i':'10.139.40.85','p':'7000','e':'demo','t':''}]`)
		eventually(t, "search lists the peerstreamer", func() bool {
			return len(searchNode(n, Query{Type: "peerstreamer"}, agent.name)) == 1 && len(searchNode(n, Query{}, agent.name)) == 1
		})
	})

	t.Run("hostile tags are ignored with one log line", func(t *testing.T) {
		bomb := strings.TrimSpace(string(shell(t, "head -c 8388608 /dev/zero | bzip2 | base64 -w 0", nil)))
		notBzip := strings.TrimSpace(string(shell(t, "echo hello | base64 -w 0", nil)))
		notJSON := strings.TrimSpace(string(shell(t, "echo '<html>' | bzip2 | base64 -w 0", nil)))
		for _, tag := range []string{"%%%not-base64%%%", notBzip, notJSON, bomb} {
			agent.publishJSON(t, `[{"s":"good","p":"1"}]`)
			eventually(t, "the good tag is seen", func() bool { return len(searchNode(n, Query{Type: "good"}, agent.name)) == 1 })
			before := countLogs(n, "ignoring the services of "+agent.name)
			agent.setTag(t, tag)
			eventually(t, "the hostile tag is logged", func() bool { return countLogs(n, "ignoring the services of "+agent.name) == before+1 })
			if got := searchNode(n, Query{}, agent.name); len(got) != 0 {
				t.Fatalf("tag %.20q: services still listed: %v", tag, got)
			}
			// An update of another tag keeps the same bad tag: no new line.
			updates := func() (u int) { n.dir.view(agent.name, func(nd *node) { u = nd.updates }); return u }
			u0 := updates()
			out, err := exec.Command("serf", "tags", agent.rpcFlag(), "-set", "other="+strconv.Itoa(before)).CombinedOutput()
			if err != nil {
				t.Fatalf("serf tags: %v: %s", err, out)
			}
			eventually(t, "the other tag's update is handled", func() bool { return updates() > u0 })
			if c := countLogs(n, "ignoring the services of "+agent.name); c != before+1 {
				t.Fatalf("tag %.20q logged %d times", tag, c-before)
			}
		}
		agent.publishJSON(t, `[{"s":"<script>alert(1)</script>","d":"a\u0007b","p":"1"}]`)
		eventually(t, "HTML kept as text", func() bool {
			got := searchNode(n, Query{}, agent.name)
			return len(got) == 1 && got[0].Type == "<script>alert(1)</script>" && got[0].Description == "a\ab"
		})
	})

	t.Run("Cloudy reads what nuvol publishes", func(t *testing.T) {
		if _, err := n.Publish([]Service{{Name: "board", Type: "kanban", Description: "Team board", Port: "8080",
			Host: "turris.guifi.local", Address: "10.139.40.86", Device: "demo", Extra: "app=board"}}); err != nil {
			t.Fatal(err)
		}
		var got []map[string]any
		eventually(t, "the agent sees nuvol's tag", func() bool { got = agent.cloudyView(t, "nuvol-router"); return len(got) == 1 })
		want := map[string]any{"s": "kanban", "d": "Team_board", "m": "turris.guifi.local", "i": "10.139.40.86", "p": "8080", "e": "demo", "t": "app=board"}
		if !reflect.DeepEqual(got[0], want) {
			t.Fatalf("Cloudy decodes %v\nwant %v", got[0], want)
		}
	})

	t.Run("twenty services", func(t *testing.T) {
		all := services(20, "nuvol-router")
		nf, err := n.Publish(all)
		if err != nil {
			t.Fatal(err)
		}
		if len(nf) == 0 {
			t.Fatal("all twenty fit in 512 bytes?")
		}
		var seen []map[string]any
		eventually(t, "the agent sees the ones that fit", func() bool {
			seen = agent.cloudyView(t, "nuvol-router")
			return len(seen) == 20-len(nf)
		})
		eventually(t, "the nuvol peer sees all twenty", func() bool { return len(searchNode(peer, Query{}, "nuvol-router")) == 20 })
		names := map[string]bool{}
		for _, s := range seen {
			names[s["s"].(string)] = true
		}
		var missing []string
		for _, s := range nf {
			if s.Name == "" || names[s.Type] {
				t.Fatalf("not fitted %+v, yet the agent has it or it has no name", s)
			}
			missing = append(missing, s.Name)
		}
		if len(names)+len(missing) != 20 {
			t.Fatalf("agent has %d, not fitted %d", len(names), len(missing))
		}
		if got := n.NotFitted(); !reflect.DeepEqual(got, nf) {
			t.Fatalf("NotFitted %v, Publish said %v", got, nf)
		}
		// A stable order: publishing the same set shuffled fits the same ones.
		shuffled := append([]Service(nil), all...)
		sort.Slice(shuffled, func(i, j int) bool { return shuffled[i].Port > shuffled[j].Port })
		nf2, _ := n.Publish(shuffled)
		if !reflect.DeepEqual(nf2, nf) {
			t.Fatalf("shuffled input fits differently: %v vs %v", nf2, nf)
		}
		t.Logf("Cloudy sees %d of 20; not fitted: %s", len(names), strings.Join(missing, " "))
	})
}

func countLogs(a *Agent, substr string) int {
	return logsOf(a).count(substr)
}

// logsOf finds the collector behind an agent started by startAgent.
var logsByAgent sync.Map

func logsOf(a *Agent) *logs {
	v, _ := logsByAgent.Load(a)
	return v.(*logs)
}

// TestHelperNode is a nuvol node in its own process, so that the parent
// test can SIGKILL it. It only runs when re-exec'd.
func TestHelperNode(t *testing.T) {
	if os.Getenv("NUVOL_FED_HELPER") == "" {
		t.Skip("re-exec'd by TestFailure only")
	}
	port, _ := strconv.Atoi(os.Getenv("NUVOL_FED_PORT"))
	cfg := testConfig(t, os.Getenv("NUVOL_FED_NAME"))
	cfg.BindPort, cfg.Join, cfg.Logf = port, []string{os.Getenv("NUVOL_FED_JOIN")}, func(string, ...any) {}
	a, err := Start(cfg)
	if err != nil {
		fmt.Println("start:", err)
		os.Exit(1)
	}
	if _, err := a.Publish(services(2, cfg.NodeName)); err != nil {
		fmt.Println("publish:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	select {}
}

func TestFailure(t *testing.T) {
	watcher := startAgent(t, "watcher", nil)

	t.Run("SIGKILL", func(t *testing.T) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperNode$")
		cmd.Env = append(os.Environ(), "NUVOL_FED_HELPER=1", "NUVOL_FED_NAME=doomed",
			"NUVOL_FED_PORT="+strconv.Itoa(freePort(t)), "NUVOL_FED_JOIN="+watcher.addrPort())
		out := &lockedBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		eventually(t, "watcher sees the subprocess's services", func() bool { return len(searchNode(watcher, Query{}, "doomed")) == 2 })
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		eventually(t, "the killed node drops out of search", func() bool { return len(searchNode(watcher, Query{}, "doomed")) == 0 })
		if st := memberStatus(watcher, "doomed"); st != "failed" {
			t.Fatalf("killed node is %q, want failed", st)
		}
	})

	t.Run("graceful leave", func(t *testing.T) {
		c := startAgent(t, "leaver", func(c *Config) { c.Join = []string{watcher.addrPort()} })
		if _, err := c.Publish(services(2, "leaver")); err != nil {
			t.Fatal(err)
		}
		eventually(t, "watcher sees the leaver's services", func() bool { return len(searchNode(watcher, Query{}, "leaver")) == 2 })
		if err := c.Leave(); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the leaver drops out of search", func() bool { return len(searchNode(watcher, Query{}, "leaver")) == 0 })
		// "left", not "failed": it went by the leave message, not by failure detection.
		if st := memberStatus(watcher, "leaver"); st != "left" {
			t.Fatalf("leaver is %q, want left", st)
		}
		c.Shutdown()
	})
}

func memberStatus(a *Agent, name string) string {
	for _, m := range a.Members() {
		if m.Name == name {
			return m.Status
		}
	}
	return ""
}

// The gossip key is the one `serf keygen` prints and `serf agent -encrypt`
// takes: a community can encrypt with Cloudy nodes in it too.
func TestEncryptionWithSerfAgent(t *testing.T) {
	needTools(t, "serf")
	out, err := exec.Command("serf", "keygen").Output()
	if err != nil {
		t.Fatalf("serf keygen: %v", err)
	}
	key := strings.TrimSpace(string(out))
	agent := startSerfAgent(t, "cloudy-encrypted", "-encrypt="+key)
	agent.publishJSON(t, `[{"s":"web","d":"Private","m":"c.guifi.local","i":"10.0.0.1","p":"80","e":"demo","t":""}]`)

	member := startAgent(t, "member", func(c *Config) { c.EncryptKey = key; c.Join = []string{agent.addr()} })
	eventually(t, "the keyed node sees the agent's service", func() bool { return len(searchNode(member, Query{}, agent.name)) == 1 })

	outsider := startAgent(t, "stranger", nil)
	if n, err := outsider.Join(agent.addr()); err == nil || n != 0 {
		t.Fatalf("joined without the key: %d, %v", n, err)
	}
	if got := outsider.Search(Query{}); len(got) != 0 {
		t.Fatalf("stranger sees %v", got)
	}
	for _, m := range agent.members(t) {
		if m.Name == "stranger" {
			t.Fatalf("the agent lists the stranger")
		}
	}
}
