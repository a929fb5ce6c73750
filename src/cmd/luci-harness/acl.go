package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"sort"
)

// aclGroup is one access group of an rpcd acl.d file.
type aclGroup struct {
	Description string     `json:"description"`
	Read        permission `json:"read"`
	Write       permission `json:"write"`
}

// permission is the scopes one grant (read or write) gives.
type permission struct {
	Ubus map[string][]string `json:"ubus"`
	UCI  []string            `json:"uci"`
}

func loadACL(file string) (map[string]aclGroup, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var groups map[string]aclGroup
	if err := json.Unmarshal(b, &groups); err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	return groups, nil
}

// grants is what a session may do, computed at login as rpcd does: every
// group the user may read adds its read permission, every group the user
// may write adds both.
type grants struct {
	ubus   map[string][]string
	uci    map[string][]string // config glob -> "read"/"write"
	groups map[string]string   // access group -> "read" or "write"
}

func newGrants() *grants {
	return &grants{ubus: map[string][]string{}, uci: map[string][]string{}, groups: map[string]string{}}
}

func (g *grants) add(p permission, fn string) {
	for obj, methods := range p.Ubus {
		g.ubus[obj] = append(g.ubus[obj], methods...)
	}
	for _, c := range p.UCI {
		g.uci[c] = append(g.uci[c], fn)
	}
}

// users maps a login name to the access it has to every group: root writes,
// viewer only reads (a read-only LuCI user, to test the read grant).
var users = map[string]string{"root": "write", "viewer": "read"}

func grantsFor(user string, groups map[string]aclGroup) *grants {
	g := newGrants()
	level := users[user]
	// What luci-base's own groups give every logged-in user: the ubus side
	// of uci and session, luci getFeatures and file list.
	g.ubus["session"] = []string{"access", "login", "destroy"}
	g.ubus["uci"] = []string{"get", "changes", "set", "add", "delete", "rename", "order", "commit", "revert", "apply", "confirm"}
	g.ubus["luci"] = []string{"getFeatures"}
	g.ubus["file"] = []string{"list"}
	names := make([]string, 0, len(groups))
	for n := range groups {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		grp := groups[n]
		switch level {
		case "write":
			g.add(grp.Read, "read")
			g.add(grp.Write, "write")
			g.groups[n] = "write"
		case "read":
			g.add(grp.Read, "read")
			g.groups[n] = "read"
		}
	}
	return g
}

// unauthenticated is what the all-zero session may call.
func unauthenticated(object, method string) bool {
	switch object + "." + method {
	case "session.access", "session.login", "luci.getFeatures":
		return true
	}
	return false
}

func (g *grants) allowUbus(object, method string) bool {
	for objGlob, methods := range g.ubus {
		if ok, _ := path.Match(objGlob, object); !ok {
			continue
		}
		for _, m := range methods {
			if ok, _ := path.Match(m, method); ok {
				return true
			}
		}
	}
	return false
}

// allowUCI checks the uci scope: fn is "read" or "write". Write implies read.
func (g *grants) allowUCI(config, fn string) bool {
	for glob, fns := range g.uci {
		if ok, _ := path.Match(glob, config); !ok {
			continue
		}
		for _, f := range fns {
			if f == fn || f == "write" && fn == "read" {
				return true
			}
		}
	}
	return false
}

// allow answers `session access {scope, object, function}`.
func (g *grants) allow(scope, object, function string) bool {
	switch scope {
	case "", "ubus":
		return g.allowUbus(object, function)
	case "uci":
		return g.allowUCI(object, function)
	case "access-group":
		lv, ok := g.groups[object]
		return ok && (lv == function || lv == "write" && function == "read")
	}
	return false
}
