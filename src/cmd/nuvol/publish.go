package main

import (
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/nuvol-project/nuvol/src/config"
	"github.com/nuvol-project/nuvol/src/federation"
	"github.com/nuvol-project/nuvol/src/node"
)

// publisher is the node's Publisher: it turns what the reconciler says is
// publishable into Cloudy services and puts them in the serf tag. The node
// may publish before the agent is up (or while it restarts); the last list
// is kept and sent when an agent arrives.
type publisher struct {
	log *logger

	flushMu sync.Mutex // one flush at a time, so an older list never wins
	mu      sync.Mutex
	agent   *federation.Agent
	last    []node.PublishedApp
	host    string
	addr    string
	device  string
}

// hostName is Cloudy's m field: <uname -n>.<cloud>.local; nuvol uses the
// node name, which defaults to the host name.
func hostName(nodeName, cloud string) string {
	if nodeName == "" {
		nodeName, _ = os.Hostname()
	}
	if i := strings.IndexByte(nodeName, '.'); i > 0 {
		nodeName = nodeName[:i]
	}
	if cloud == "" {
		cloud = "guifi"
	}
	return nodeName + "." + cloud + ".local"
}

// nodeAddress is the address others open this node's apps at: the
// advertised one, else the bound one, else the first global IPv4 address.
func nodeAddress(n config.Node) string {
	if n.AdvertiseAddr != "" {
		host := n.AdvertiseAddr
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		return strings.Trim(host, "[]")
	}
	if ip := net.ParseIP(n.BindAddr); ip != nil && !ip.IsUnspecified() {
		return n.BindAddr
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if in, ok := a.(*net.IPNet); ok && in.IP.To4() != nil && in.IP.IsGlobalUnicast() {
				return in.IP.String()
			}
		}
	}
	return "127.0.0.1"
}

func (p *publisher) configure(cfg *config.Config) {
	p.mu.Lock()
	p.host = hostName(cfg.Node.NameOrHost(), cfg.Node.CloudName)
	p.addr = nodeAddress(cfg.Node)
	p.device = cfg.Node.DeviceName
	p.mu.Unlock()
	p.flush()
}

func (p *publisher) address() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addr
}

func (p *publisher) setAgent(a *federation.Agent) {
	p.mu.Lock()
	p.agent = a
	p.mu.Unlock()
	if a != nil {
		p.flush()
	}
}

// Publish implements node.Publisher.
func (p *publisher) Publish(apps []node.PublishedApp) {
	p.mu.Lock()
	p.last = append([]node.PublishedApp(nil), apps...)
	p.mu.Unlock()
	p.flush()
}

func (p *publisher) flush() {
	p.flushMu.Lock()
	defer p.flushMu.Unlock()
	p.mu.Lock()
	a := p.agent
	svcs := make([]federation.Service, 0, len(p.last))
	for _, app := range p.last {
		svcs = append(svcs, federation.Service{
			Type:        app.Type,
			Description: app.Description,
			Host:        p.host,
			Address:     p.addr,
			Port:        strconv.Itoa(app.Port),
			Device:      p.device,
			Name:        app.Name,
		})
	}
	p.mu.Unlock()
	if a == nil {
		return
	}
	nf, err := a.Publish(svcs)
	if err != nil {
		p.log.Errorf("federation: publish: %v", err)
		return
	}
	for _, s := range nf {
		p.log.Warnf("federation: app %s (%s, port %s) does not fit in the services tag: nuvol peers see it, Cloudy nodes do not", s.Name, s.Type, s.Port)
	}
	p.log.Debugf("federation: published %d service(s)", len(svcs)-len(nf))
}
