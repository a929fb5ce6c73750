package federation

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/serf/serf"
)

// fastSerf tunes serf and memberlist for loopback tests: failure detection
// and gossip in tens of milliseconds instead of seconds.
func fastSerf(c *serf.Config) {
	m := c.MemberlistConfig
	m.GossipInterval = 20 * time.Millisecond
	m.ProbeInterval = 100 * time.Millisecond
	m.ProbeTimeout = 50 * time.Millisecond
	m.SuspicionMult = 2
	m.SuspicionMaxTimeoutMult = 2
	m.PushPullInterval = time.Second
	m.TCPTimeout = time.Second
	m.GossipToTheDeadTime = time.Second
	c.BroadcastTimeout = time.Second
	c.LeavePropagateDelay = 50 * time.Millisecond
	c.ReapInterval = 200 * time.Millisecond
	c.ReconnectInterval = 200 * time.Millisecond
}

var fastTiming = timing{
	joinDelay: 50 * time.Millisecond,
	joinMin:   50 * time.Millisecond, joinMax: 200 * time.Millisecond,
	fetchMin: 50 * time.Millisecond, fetchMax: 500 * time.Millisecond,
	queryTimeout: time.Second,
}

// freePort finds a loopback port free for both TCP and UDP, as serf needs.
func freePort(t testing.TB) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		return port
	}
	t.Fatal("no free port")
	return 0
}

// logs collects an agent's log lines; it stops forwarding to the test's
// log once the test is over, as serf may still log while shutting down.
type logs struct {
	mu    sync.Mutex
	t     testing.TB
	done  bool
	lines []string
}

func newLogs(t testing.TB) *logs {
	l := &logs{t: t}
	t.Cleanup(func() { l.mu.Lock(); l.done = true; l.mu.Unlock() })
	return l
}

func (l *logs) logf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
	if !l.done && testing.Verbose() {
		l.t.Logf("%s", line)
	}
}

func (l *logs) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

func testConfig(t testing.TB, name string) Config {
	return Config{
		NodeName: name, BindAddr: "127.0.0.1", BindPort: freePort(t),
		Host: name + ".guifi.local", Logf: newLogs(t).logf,
		tune: fastSerf, timing: fastTiming,
	}
}

// startAgent starts a nuvol node on loopback; mod may change its config.
func startAgent(t testing.TB, name string, mod func(*Config)) *Agent {
	t.Helper()
	cfg := testConfig(t, name)
	l := newLogs(t)
	cfg.Logf = l.logf
	if mod != nil {
		mod(&cfg)
	}
	a, err := Start(cfg)
	if err != nil {
		t.Fatalf("Start %s: %v", name, err)
	}
	logsByAgent.Store(a, l)
	t.Cleanup(func() { a.Shutdown() })
	return a
}

func (a *Agent) addrPort() string {
	return fmt.Sprintf("127.0.0.1:%d", a.cfg.BindPort)
}

// eventually polls cond until it holds; the deadline only stops a broken
// test from hanging, it is not a timing assertion.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func services(n int, node string) []Service {
	var out []Service
	for i := 0; i < n; i++ {
		out = append(out, Service{
			Name: fmt.Sprintf("app%02d", i), Type: fmt.Sprintf("app%02d", i),
			Description: fmt.Sprintf("Application number %d of %s", i, node),
			Port:        fmt.Sprint(8000 + i), Extra: fmt.Sprintf("app=app%02d", i),
		})
	}
	return out
}

func searchNode(a *Agent, q Query, node string) []Entry {
	var out []Entry
	for _, e := range a.Search(q) {
		if e.Node == node {
			out = append(out, e)
		}
	}
	return out
}
