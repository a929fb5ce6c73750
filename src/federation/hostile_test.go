package federation

import (
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/serf/serf"
)

// A peer that claims to be nuvol and answers the nuvol-services query with
// lies: nuvol keeps showing what its tag holds, backs off, never crashes.
func TestHostileNuvolPeer(t *testing.T) {
	n := startAgent(t, "honest", nil)

	tag, _, _ := EncodeTag([]Service{{Type: "bait", Port: "1"}})
	var answer atomic.Value
	answer.Store([]byte("{"))
	var asked atomic.Int32

	events := make(chan serf.Event, 64)
	conf := serf.DefaultConfig()
	conf.NodeName = "liar"
	conf.MemberlistConfig = profile()
	conf.MemberlistConfig.BindAddr = "127.0.0.1"
	conf.MemberlistConfig.BindPort = freePort(t)
	conf.EventCh = events
	conf.LogOutput = io.Discard
	conf.MemberlistConfig.LogOutput = io.Discard
	fastSerf(conf)
	// It claims three services but its tag holds one: nuvol asks for the rest.
	conf.Tags = map[string]string{MarkerTag: "1 3 " + strings.Repeat("ab", 12), TagName: tag}
	liar, err := serf.Create(conf)
	if err != nil {
		t.Fatal(err)
	}
	defer liar.Shutdown()
	go func() {
		for e := range events {
			if q, ok := e.(*serf.Query); ok && q.Name == QueryName {
				asked.Add(1)
				q.Respond(answer.Load().([]byte))
			}
		}
	}()
	if _, err := liar.Join([]string{n.addrPort()}, true); err != nil {
		t.Fatal(err)
	}

	for _, lie := range []string{
		`{`,
		`{"h":"x","n":100000,"i":0,"s":[]}`,
		`{"h":"x","n":2,"i":1,"s":[]}`, // the wrong page
		`{"h":"cdcdcdcdcdcdcdcdcdcdcdcd","n":1,"i":0,"s":[{"s":"a"},{"s":"b"}]}`, // not the list its tag names
		`{"h":"` + strings.Repeat("ab", 12) + `","n":2,"i":0,"s":[{"s":"a"}]}`,   // page 2 never the same
	} {
		answer.Store([]byte(lie))
		a0 := asked.Load()
		eventually(t, "the liar is asked again", func() bool { return asked.Load() >= a0+2 })
		got := searchNode(n, Query{}, "liar")
		if len(got) != 1 || got[0].Type != "bait" {
			t.Fatalf("lie %s: search shows %v, want the tag's one service", lie, got)
		}
	}
	// Backoff: with fetchMin 50 ms and fetchMax 500 ms, a second of lies
	// is a handful of questions, not a storm.
	a0 := asked.Load()
	time.Sleep(time.Second)
	if d := asked.Load() - a0; d > 20 {
		t.Fatalf("asked %d times in a second", d)
	}

	// Once it tells the truth, the full list shows.
	truth := []Service{{Type: "bait", Port: "1"}, {Type: "more", Port: "2"}, {Type: "most", Port: "3"}}
	pages, list, _ := paginate(truth, 800)
	answer.Store(pages[0])
	mk := marker{total: len(list), hash: listHash(list)}
	if err := liar.SetTags(map[string]string{MarkerTag: mk.String(), TagName: tag}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the full list shows", func() bool { return len(searchNode(n, Query{}, "liar")) == 3 })
	if c := countLogs(n, "fetch the services of liar"); c == 0 {
		t.Fatalf("no log line for the lies")
	}
}
