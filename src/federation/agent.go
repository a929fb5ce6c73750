package federation

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
)

// DefaultPort is the serf port Cloudy nodes use.
const DefaultPort = 5000

// Config says how the node joins the community.
type Config struct {
	NodeName      string   // serf member name; the host name when empty
	BindAddr      string   // default 0.0.0.0
	BindPort      int      // default 5000
	AdvertiseAddr string   // "ip" or "ip:port" others reach us at (NAT)
	Join          []string // "host" or "host:port"; retried with backoff until one answers
	EncryptKey    string   // base64 of 16, 24 or 32 bytes; empty: no gossip encryption (as Cloudy)
	SnapshotPath  string   // serf snapshot: a restarted node rejoins the members it knew
	Logf          func(string, ...any)

	// Defaults for what Publish sends when a service leaves them empty.
	Host   string // m: default <hostname>.guifi.local
	Device string // e: default "demo"

	// Unexported knobs the tests and benchmarks use to run serf fast.
	tune   func(*serf.Config)
	timing timing
}

type timing struct {
	joinDelay          time.Duration // longest wait for the first Publish before joining
	joinMin, joinMax   time.Duration // join retry backoff
	fetchMin, fetchMax time.Duration // full-list fetch retry backoff
	queryTimeout       time.Duration // one page
}

func (t *timing) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&t.joinDelay, 2*time.Second)
	def(&t.joinMin, time.Second)
	def(&t.joinMax, time.Minute)
	def(&t.fetchMin, time.Second)
	def(&t.fetchMax, time.Minute)
	def(&t.queryTimeout, 3*time.Second)
}

// Agent is this node's membership in the community.
type Agent struct {
	cfg  Config
	logf func(string, ...any)
	serf *serf.Serf
	dir  *Directory

	publishMu sync.Mutex // one Publish at a time
	mu        sync.Mutex // guards what we publish
	published []Service  // every service nuvol peers can fetch
	pages     [][]byte   // published, as query answers
	mark      marker
	notFitted []Service
	addr      string            // default for a service's address
	tags      map[string]string // latest tags, for tagLoop

	tagsChanged  chan struct{}
	firstPublish chan struct{} // closed once the first Publish is in the tags
	publishOnce  sync.Once

	cbMu      sync.Mutex
	callbacks []func()
	changed   chan struct{}

	fetchMu  sync.Mutex
	fetching map[string]bool
	fetchSem chan struct{}

	stop      chan struct{}
	stopOnce  sync.Once
	leaveOnce sync.Once
	leaveErr  error
	wg        sync.WaitGroup
}

// profile is serf's LAN profile with a longer probe timeout: community
// wireless links are LAN-like in hop count but their round trips are often
// longer than the 500 ms a wired LAN gets. Gossip stays at 200 ms so a
// publish reaches peers in well under two seconds.
func profile() *memberlist.Config {
	c := memberlist.DefaultLANConfig()
	c.ProbeTimeout = time.Second
	c.ProbeInterval = 2 * time.Second
	c.SuspicionMult = 5
	return c
}

// ParseKey reads a gossip encryption key: standard base64 of 16, 24 or 32
// bytes, as `serf keygen` prints it.
func ParseKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("encrypt_key: not base64: %v", err)
	}
	switch len(k) {
	case 16, 24, 32:
		return k, nil
	}
	return nil, fmt.Errorf("encrypt_key: %d bytes; want 16, 24 or 32", len(k))
}

func splitHostPort(s string, defPort int) (string, int, error) {
	if host, port, err := net.SplitHostPort(s); err == nil {
		p, err := strconv.Atoi(port)
		if err != nil || p < 1 || p > 65535 {
			return "", 0, fmt.Errorf("%q: %q is not a port", s, port)
		}
		return host, p, nil
	}
	return strings.Trim(s, "[]"), defPort, nil
}

// Start joins the community: it binds, starts gossiping, and keeps trying
// the join list in the background until one member answers.
func Start(cfg Config) (*Agent, error) {
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("federation: node name: %v", err)
		}
		cfg.NodeName = h
	}
	if cfg.BindAddr == "" {
		cfg.BindAddr = "0.0.0.0"
	}
	if cfg.BindPort == 0 {
		cfg.BindPort = DefaultPort
	}
	if cfg.BindPort < 0 || cfg.BindPort > 65535 {
		return nil, fmt.Errorf("federation: bind_port: %d is not a port", cfg.BindPort)
	}
	if net.ParseIP(cfg.BindAddr) == nil {
		return nil, fmt.Errorf("federation: bind_addr: %q is not an IP address", cfg.BindAddr)
	}
	if cfg.Device == "" {
		cfg.Device = "demo"
	}
	if cfg.Host == "" {
		h, _ := os.Hostname()
		if i := strings.IndexByte(h, '.'); i > 0 {
			h = h[:i]
		}
		cfg.Host = h + ".guifi.local"
	}
	cfg.timing.defaults()

	conf := serf.DefaultConfig()
	conf.NodeName = cfg.NodeName
	conf.MemberlistConfig = profile()
	conf.MemberlistConfig.BindAddr = cfg.BindAddr
	conf.MemberlistConfig.BindPort = cfg.BindPort
	conf.MemberlistConfig.AdvertisePort = cfg.BindPort
	if cfg.AdvertiseAddr != "" {
		host, port, err := splitHostPort(cfg.AdvertiseAddr, cfg.BindPort)
		if err != nil {
			return nil, fmt.Errorf("federation: advertise_addr: %v", err)
		}
		if net.ParseIP(host) == nil {
			return nil, fmt.Errorf("federation: advertise_addr: %q is not an IP address", host)
		}
		conf.MemberlistConfig.AdvertiseAddr = host
		conf.MemberlistConfig.AdvertisePort = port
	}
	if cfg.EncryptKey != "" {
		k, err := ParseKey(cfg.EncryptKey)
		if err != nil {
			return nil, fmt.Errorf("federation: %v", err)
		}
		conf.MemberlistConfig.SecretKey = k
	}
	if cfg.SnapshotPath != "" {
		if err := os.MkdirAll(filepath.Dir(cfg.SnapshotPath), 0o700); err != nil {
			return nil, fmt.Errorf("federation: snapshot: %v", err)
		}
		conf.SnapshotPath = cfg.SnapshotPath
		// The daemon leaves on every stop; it must still rejoin on start.
		conf.RejoinAfterLeave = true
	}
	logger := log.New(&logWriter{logf: cfg.Logf}, "", 0)
	conf.Logger = logger
	conf.MemberlistConfig.Logger = logger
	events := make(chan serf.Event, 1024)
	conf.EventCh = events

	a := &Agent{
		cfg:     cfg,
		logf:    cfg.Logf,
		dir:     NewDirectory(),
		changed: make(chan struct{}, 1),

		tagsChanged:  make(chan struct{}, 1),
		firstPublish: make(chan struct{}),
		fetching:     make(map[string]bool),
		fetchSem:     make(chan struct{}, 8),
		stop:         make(chan struct{}),
	}
	a.mark = marker{total: 0, hash: listHash(nil)}
	a.pages, _, _ = paginate(nil, 512)
	conf.Tags = map[string]string{MarkerTag: a.mark.String()}
	if cfg.tune != nil {
		cfg.tune(conf)
	}
	if cfg.AdvertiseAddr != "" {
		a.addr = conf.MemberlistConfig.AdvertiseAddr
	} else if ip := net.ParseIP(cfg.BindAddr); !ip.IsUnspecified() {
		a.addr = cfg.BindAddr
	}

	s, err := serf.Create(conf)
	if err != nil {
		return nil, fmt.Errorf("federation: start serf on %s:%d: %v", cfg.BindAddr, cfg.BindPort, err)
	}
	a.serf = s
	if a.addr == "" {
		a.addr = s.LocalMember().Addr.String()
	}
	a.pages, _, _ = paginate(nil, a.pageLimit())

	a.wg.Add(2)
	go a.eventLoop(events)
	go a.notifyLoop()
	// Not waited for by Shutdown: a SetTags in flight only returns after
	// serf's BroadcastTimeout once memberlist is down.
	go a.tagLoop()
	if len(cfg.Join) > 0 {
		a.wg.Add(1)
		go a.joinLoop(cfg.Join)
	}
	return a, nil
}

// pageLimit is how much JSON one query answer may carry: serf refuses
// answers past QueryResponseSizeLimit (1024 bytes by default, which also
// keeps each answer in one UDP packet), less its own framing.
func (a *Agent) pageLimit() int {
	return 1024 - 160 - len(a.cfg.NodeName)
}

// joinLoop tries the join list until one member answers, backing off.
//
// It first waits, briefly, for the first Publish: a node that joins with
// its services already in its tags is gossiped once. One that publishes
// just after joining is gossiped twice, and when a whole neighbourhood
// restarts at once (a power cut) the second round of updates saturates
// the gossip: on loopback, 50 nodes took about a minute to see each other's
// services instead of about ten seconds.
func (a *Agent) joinLoop(addrs []string) {
	defer a.wg.Done()
	select {
	case <-a.stop:
		return
	case <-a.firstPublish:
	case <-time.After(a.cfg.timing.joinDelay):
	}
	wait := a.cfg.timing.joinMin
	for {
		n, err := a.serf.Join(addrs, true)
		if n > 0 {
			a.logf("federation: joined the community through %d of %d addresses", n, len(addrs))
			return
		}
		a.logf("federation: join %s: %v; retrying in %s", strings.Join(addrs, ","), err, wait)
		select {
		case <-a.stop:
			return
		case <-time.After(wait):
		}
		wait *= 2
		if wait > a.cfg.timing.joinMax {
			wait = a.cfg.timing.joinMax
		}
	}
}

// Join adds addresses now; it returns how many answered.
func (a *Agent) Join(addrs ...string) (int, error) {
	return a.serf.Join(addrs, true)
}

func (a *Agent) eventLoop(events <-chan serf.Event) {
	defer a.wg.Done()
	for {
		select {
		case <-a.stop:
			return
		case e := <-events:
			switch e := e.(type) {
			case serf.MemberEvent:
				a.memberEvent(e)
			case *serf.Query:
				a.answer(e)
			}
		}
	}
}

func (a *Agent) memberEvent(e serf.MemberEvent) {
	for _, m := range e.Members {
		switch e.Type {
		case serf.EventMemberJoin, serf.EventMemberUpdate:
			a.memberUp(m)
		case serf.EventMemberLeave, serf.EventMemberFailed:
			status := m.Status.String()
			a.dir.update(m.Name, func(n *node) { n.status = status })
		case serf.EventMemberReap:
			a.dir.remove(m.Name)
		}
	}
	a.notify()
}

func (a *Agent) memberUp(m serf.Member) {
	self := m.Name == a.cfg.NodeName
	mk, nuvol := parseMarker(m.Tags[MarkerTag])
	var svcs []Service
	var bad error
	tag := m.Tags[TagName]
	same := false
	a.dir.view(m.Name, func(n *node) { same = n.rawTag == tag && n.badTag == "" })
	if !self && !same {
		// Decoding costs a bzip2 reader's buffers: skip it when only
		// another tag or the status changed.
		svcs, bad = DecodeTag(tag)
	}
	var own []Service
	var ownMark marker
	if self {
		a.mu.Lock()
		own, ownMark = a.published, a.mark
		a.mu.Unlock()
	}
	need := false
	a.dir.update(m.Name, func(n *node) {
		n.addr, n.port, n.status = m.Addr.String(), int(m.Port), m.Status.String()
		n.updates++
		n.nuvol, n.marker = nuvol || self, mk
		switch {
		case self:
			n.nuvol, n.marker, n.tag, n.full, n.fullFor = true, ownMark, own, own, ownMark.hash
		case bad != nil:
			if n.badTag != tag {
				a.logf("federation: ignoring the services of %s: %v", m.Name, bad)
			}
			n.badTag, n.tag = tag, nil
		case same:
		default:
			n.badTag, n.tag = "", svcs
		}
		n.rawTag = tag
		need = !self && n.status == "alive" && !n.complete()
	})
	if need {
		a.scheduleFetch(m.Name)
	}
}

// answer serves one page of our full list to a nuvol peer.
func (a *Agent) answer(q *serf.Query) {
	if q.Name != QueryName {
		return
	}
	var req pageRequest
	if err := json.Unmarshal(q.Payload, &req); err != nil {
		return
	}
	a.mu.Lock()
	pages := a.pages
	a.mu.Unlock()
	if req.Index < 0 || req.Index >= len(pages) {
		return
	}
	if err := q.Respond(pages[req.Index]); err != nil {
		a.logf("federation: answer %s from %s: %v", QueryName, q.SourceNode(), err)
	}
}

// needsFetch reports whether a peer's full list is missing or stale.
func (a *Agent) needsFetch(name string) (need bool) {
	a.dir.view(name, func(n *node) {
		need = n.status == "alive" && !n.complete()
	})
	return need
}

func (a *Agent) scheduleFetch(name string) {
	a.fetchMu.Lock()
	defer a.fetchMu.Unlock()
	if a.fetching[name] {
		return // the running loop sees the new state
	}
	select {
	case <-a.stop:
		return
	default:
	}
	a.fetching[name] = true
	a.wg.Add(1)
	go a.fetchLoop(name)
}

// fetchLoop fetches a peer's full list until it is current, backing off
// on failure. At most one loop runs per peer, and a few at a time.
func (a *Agent) fetchLoop(name string) {
	defer a.wg.Done()
	wait := a.cfg.timing.fetchMin
	for {
		a.fetchMu.Lock()
		if !a.needsFetch(name) {
			delete(a.fetching, name)
			a.fetchMu.Unlock()
			return
		}
		a.fetchMu.Unlock()

		select {
		case a.fetchSem <- struct{}{}:
		case <-a.stop:
			return
		}
		list, hash, err := a.fetchList(name)
		<-a.fetchSem
		if err == nil {
			current := false
			a.dir.update(name, func(n *node) {
				n.full, n.fullFor = list, hash
				current = hash == n.marker.hash
			})
			a.notify()
			if current {
				wait = a.cfg.timing.fetchMin
				continue
			}
			err = fmt.Errorf("its list %s is not the one its tag names", hash)
		}
		a.logf("federation: fetch the services of %s: %v; retrying in %s", name, err, wait)
		select {
		case <-a.stop:
			return
		case <-time.After(wait):
		}
		wait *= 2
		if wait > a.cfg.timing.fetchMax {
			wait = a.cfg.timing.fetchMax
		}
	}
}

func (a *Agent) fetchList(name string) ([]Service, string, error) {
	first, err := a.queryPage(name, 0)
	if err != nil {
		return nil, "", err
	}
	items := first.Items
	for i := 1; i < first.Pages; i++ {
		p, err := a.queryPage(name, i)
		if err != nil {
			return nil, "", err
		}
		if p.Hash != first.Hash || p.Pages != first.Pages {
			return nil, "", errors.New("its list changed while fetching")
		}
		items = append(items, p.Items...)
		if len(items) > maxServicesPerNode {
			return nil, "", fmt.Errorf("more than %d services", maxServicesPerNode)
		}
	}
	list := make([]Service, len(items))
	for i, w := range items {
		list[i] = fromWire(w)
	}
	return list, first.Hash, nil
}

func (a *Agent) queryPage(name string, i int) (page, error) {
	payload, _ := json.Marshal(pageRequest{Index: i})
	resp, err := a.serf.Query(QueryName, payload, &serf.QueryParam{
		FilterNodes: []string{name},
		Timeout:     a.cfg.timing.queryTimeout,
	})
	if err != nil {
		return page{}, err
	}
	defer resp.Close()
	ch := resp.ResponseCh()
	for {
		var r serf.NodeResponse
		var ok bool
		select {
		case <-a.stop:
			return page{}, errors.New("shutting down")
		case r, ok = <-ch:
		}
		if !ok {
			break
		}
		if r.From != name {
			continue
		}
		p, err := parsePage(r.Payload)
		if err != nil {
			return page{}, err
		}
		if p.Index != i {
			return page{}, fmt.Errorf("asked for page %d, got %d", i, p.Index)
		}
		return p, nil
	}
	return page{}, fmt.Errorf("no answer to %s page %d", QueryName, i)
}

// Publish makes svcs this node's published services, replacing what was
// published before; an empty list unpublishes everything. Every service
// goes to nuvol peers; the `services` tag that Cloudy nodes read gets as
// many as fit in serf's 512 bytes, in a stable order (type, port,
// description). It returns the services Cloudy nodes will not see.
func (a *Agent) Publish(svcs []Service) (notFitted []Service, err error) {
	a.publishMu.Lock()
	defer a.publishMu.Unlock()
	list, dups, err := a.normalize(svcs)
	if err != nil {
		return nil, err
	}
	pages, list, tooBig := paginate(list, a.pageLimit())
	mk := marker{total: len(list), hash: listHash(list)}
	tag, _, out, err := fitGreedy(list, map[string]string{MarkerTag: mk.String()})
	if err != nil {
		return nil, fmt.Errorf("federation: encode services tag: %v", err)
	}
	notFitted = append(append(out, tooBig...), dups...)
	for _, s := range tooBig {
		a.logf("federation: service %s %s/%s is too large to publish (%d bytes limit)", s.Name, s.Type, s.Port, a.pageLimit())
	}

	a.mu.Lock()
	a.published, a.pages, a.mark, a.notFitted = list, pages, mk, notFitted
	a.mu.Unlock()

	tags := map[string]string{MarkerTag: mk.String()}
	if tag != "" {
		tags[TagName] = tag // Cloudy deletes the tag when nothing is published
	}
	self := a.cfg.NodeName
	a.dir.update(self, func(n *node) {
		n.nuvol, n.marker, n.tag, n.full, n.fullFor = true, mk, list, list, mk.hash
		if n.status == "" {
			n.status = "alive"
		}
	})
	a.notify()
	a.mu.Lock()
	a.tags = tags
	a.mu.Unlock()
	select {
	case a.tagsChanged <- struct{}{}:
	default:
	}
	return notFitted, nil
}

// tagLoop hands the latest tags to serf. SetTags waits until the update
// is gossiped (up to serf's BroadcastTimeout, 5 s); Publish must not: the
// reconciler calls it. When tags change faster than they gossip, only the
// latest are sent.
func (a *Agent) tagLoop() {
	for {
		select {
		case <-a.stop:
			return
		case <-a.tagsChanged:
		}
		a.mu.Lock()
		tags := a.tags
		a.mu.Unlock()
		if err := a.serf.SetTags(tags); err != nil && a.serf.State() == serf.SerfAlive {
			// A timeout leaves the tags set and their broadcast queued;
			// push/pull carries them too. Nothing to retry.
			a.logf("federation: set tags: %v", err)
		}
		// The join may go now: the tags it carries hold the services.
		a.publishOnce.Do(func() { close(a.firstPublish) })
	}
}

// normalize fills defaults, writes descriptions the way Cloudy does
// (spaces as "_", because its shell tools split on spaces), orders the
// list, and drops a second service with the same type and port, as
// Cloudy's publish replaces it.
func (a *Agent) normalize(svcs []Service) (list, dups []Service, err error) {
	list = make([]Service, 0, len(svcs))
	for _, s := range svcs {
		if strings.TrimSpace(s.Type) == "" {
			return nil, nil, fmt.Errorf("federation: service %q (port %q) has no type", s.Name, s.Port)
		}
		if s.Host == "" {
			s.Host = a.cfg.Host
		}
		if s.Address == "" {
			s.Address = a.addr
		}
		if s.Device == "" {
			s.Device = a.cfg.Device
		}
		s.Description = strings.ReplaceAll(s.Description, " ", "_")
		list = append(list, s)
	}
	sortServices(list)
	out := list[:0]
	seen := make(map[[2]string]bool)
	for _, s := range list {
		k := [2]string{s.Type, s.Port}
		if seen[k] {
			dups = append(dups, s)
			continue
		}
		seen[k] = true
		out = append(out, s)
	}
	return out, dups, nil
}

func sortServices(l []Service) {
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i], l[j]
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		if a.Port != b.Port {
			return portLess(a.Port, b.Port)
		}
		if a.Description != b.Description {
			return a.Description < b.Description
		}
		return a.Name < b.Name
	})
}

// NotFitted is what the last Publish could not put in the `services` tag:
// Cloudy nodes do not see these (nuvol peers do, unless too large).
func (a *Agent) NotFitted() []Service {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Service(nil), a.notFitted...)
}

// Search answers from memory: the services of alive members that match q.
func (a *Agent) Search(q Query) []Entry { return a.dir.Search(q) }

// Members lists the community's nodes, this one included.
func (a *Agent) Members() []Member { return a.dir.Members() }

// Directory is the agent's directory of community services.
func (a *Agent) Directory() *Directory { return a.dir }

// NodeName is this node's serf name.
func (a *Agent) NodeName() string { return a.cfg.NodeName }

// OnChange registers fn, called (never concurrently, never while a lock is
// held) after the directory changed. Bursts of changes are merged. fn
// should return quickly: Shutdown waits for a call in progress.
func (a *Agent) OnChange(fn func()) {
	a.cbMu.Lock()
	a.callbacks = append(a.callbacks, fn)
	a.cbMu.Unlock()
}

func (a *Agent) notify() {
	select {
	case a.changed <- struct{}{}:
	default:
	}
}

func (a *Agent) notifyLoop() {
	defer a.wg.Done()
	for {
		select {
		case <-a.stop:
			return
		case <-a.changed:
		}
		a.cbMu.Lock()
		cbs := append([]func(){}, a.callbacks...)
		a.cbMu.Unlock()
		for _, fn := range cbs {
			fn()
		}
	}
}

// Leave tells the community this node is going away, so that peers drop
// its services at once rather than after failure detection.
func (a *Agent) Leave() error {
	a.leaveOnce.Do(func() {
		if err := a.serf.Leave(); err != nil {
			a.leaveErr = fmt.Errorf("federation: leave: %v", err)
		}
	})
	return a.leaveErr
}

// Shutdown stops gossiping without leaving: peers will see this node fail.
// Call Leave first for a graceful stop.
func (a *Agent) Shutdown() error {
	var err error
	a.stopOnce.Do(func() {
		err = a.serf.Shutdown()
		a.fetchMu.Lock()
		close(a.stop)
		a.fetchMu.Unlock()
		a.wg.Wait()
	})
	return err
}

// logWriter turns serf's and memberlist's warnings and errors into Logf
// calls. Their debug and info lines (one per member event) would fill a
// router's log in a large community.
type logWriter struct{ logf func(string, ...any) }

func (w *logWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if line == "" || strings.Contains(line, "[DEBUG]") || strings.Contains(line, "[INFO]") {
			continue
		}
		w.logf("federation: %s", line)
	}
	return len(p), nil
}
