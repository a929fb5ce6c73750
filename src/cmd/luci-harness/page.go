package main

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"os"
	"sort"
	"strings"
)

// menuNode is one entry of a menu.d file.
type menuNode struct {
	Title  string `json:"title"`
	Order  int    `json:"order"`
	Action struct {
		Type string `json:"type"`
		Path string `json:"path"`
	} `json:"action"`
	Depends struct {
		ACL []string       `json:"acl"`
		UCI map[string]any `json:"uci"`
	} `json:"depends"`
}

func loadMenu(file string) (map[string]menuNode, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var m map[string]menuNode
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	return m, nil
}

type tab struct {
	Name, Title, URL string
	Active           bool
	order            int
}

// children are the visible menu entries directly under parent, in order.
func (s *Server) children(parent string) []tab {
	var out []tab
	for p, n := range s.menu {
		if !strings.HasPrefix(p, parent+"/") || strings.Contains(p[len(parent)+1:], "/") || n.Title == "" {
			continue
		}
		order := n.Order
		if order == 0 {
			order = 1000
		}
		out = append(out, tab{Name: p[len(parent)+1:], Title: n.Title, URL: "/cgi-bin/luci/" + p, order: order})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].order != out[j].order {
			return out[i].order < out[j].order
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// access is the dispatcher's depends.acl rule: every listed group must be
// granted read or write; the node is read-only unless one is granted write.
func access(sess *session, n menuNode) (ok, readonly bool) {
	readonly = true
	for _, g := range n.Depends.ACL {
		lv, has := sess.grants.groups[g]
		if !has {
			return false, true
		}
		if lv == "write" {
			readonly = false
		}
	}
	if len(n.Depends.ACL) == 0 {
		readonly = false
	}
	return true, readonly
}

func (s *Server) servePage(w http.ResponseWriter, r *http.Request) {
	path := strings.Trim(strings.TrimPrefix(r.URL.Path, "/cgi-bin/luci/"), "/")
	var sess *session
	if c, err := r.Cookie("sysauth_http"); err == nil {
		sess = s.session(c.Value)
	}
	if sess == nil {
		if r.Method == http.MethodPost {
			r.ParseForm()
			if ns := s.login(r.PostForm.Get("luci_username"), r.PostForm.Get("luci_password")); ns != nil {
				http.SetCookie(w, &http.Cookie{Name: "sysauth_http", Value: ns.id, Path: "/cgi-bin/luci/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
				http.Redirect(w, r, r.URL.Path, http.StatusFound)
				return
			}
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		loginPage.Execute(w, map[string]any{"Hostname": s.opt.Hostname, "Failed": r.Method == http.MethodPost})
		return
	}
	node, ok := s.menu[path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if node.Action.Type == "firstchild" {
		kids := s.children(path)
		if len(kids) == 0 {
			http.NotFound(w, r)
			return
		}
		http.Redirect(w, r, kids[0].URL, http.StatusFound)
		return
	}
	allowed, readonly := access(sess, node)
	if !allowed {
		http.Error(w, "Forbidden", http.StatusForbidden)
		return
	}
	parent := path[:strings.LastIndex(path, "/")]
	tabs := s.children(parent)
	for i := range tabs {
		tabs[i].Active = tabs[i].URL == "/cgi-bin/luci/"+path
	}
	env := map[string]any{
		"scriptname": "/cgi-bin/luci", "resource": "/luci-static/resources", "media": "/luci-static/harness",
		"ubuspath": "/ubus/", "sessionid": sess.id, "token": sess.token,
		"requestpath": strings.Split(path, "/"), "dispatchpath": strings.Split(path, "/"),
		"pollinterval": 5, "apply_rollback": 90, "apply_holdoff": 4, "apply_timeout": 5, "apply_display": 1.5,
		"rollback_token": nil, "documentroot": "/www",
		"nodespec": map[string]any{"title": node.Title, "order": node.Order, "action": node.Action,
			"satisfied": true, "readonly": readonly},
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	err := viewPage.Execute(w, map[string]any{
		"Hostname": s.opt.Hostname, "Title": node.Title, "Parent": s.menu[parent].Title,
		"Tabs": tabs, "Env": env, "View": node.Action.Path, "User": sess.user,
	})
	if err != nil {
		s.opt.Logf("page %s: %v", path, err)
	}
}

// The page shell follows LuCI's order (reference §8.1): translations, cbi.js,
// the #indicators/#maincontent/#view skeleton, luci.js with a synchronous
// `new LuCI(env)`, then instantiateView.
var viewPage = template.Must(template.New("view").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Hostname}} - {{.Title}} - LuCI</title>
<link rel="stylesheet" href="/luci-static/harness/harness.css">
<script>window.TR = {};</script>
<script src="/luci-static/resources/cbi.js"></script>
</head>
<body class="lang_en">
<header>
	<a class="brand" href="/cgi-bin/luci/">{{.Hostname}}</a>
	<nav class="mainmenu"><span>Status</span><span>System</span><span class="active">Services</span><span>Network</span></nav>
	<span id="indicators"></span>
	<span class="user">{{.User}}</span>
</header>
<div id="maincontent" class="container">
	<h1 class="crumb">Services » {{.Parent}}</h1>
	<ul class="tabs">{{range .Tabs}}
		<li class="tabmenu-item-{{.Name}}{{if .Active}} active{{end}}"><a href="{{.URL}}">{{.Title}}</a></li>{{end}}
	</ul>
	<div id="view"><div class="spinning">Loading view…</div></div>
</div>
<footer>Powered by nuvol · LuCI test harness</footer>
<script src="/luci-static/resources/luci.js"></script>
<script>L = new LuCI({{.Env}});</script>
<script>L.require('ui').then(function (ui) { ui.instantiateView({{.View}}); });</script>
</body>
</html>
`))

var loginPage = template.Must(template.New("login").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{{.Hostname}} - LuCI</title>
<link rel="stylesheet" href="/luci-static/harness/harness.css"></head>
<body class="lang_en">
<header><a class="brand" href="/cgi-bin/luci/">{{.Hostname}}</a></header>
<div id="maincontent" class="container">
<form method="post" class="cbi-map login">
	<h2>Authorization Required</h2>
	{{if .Failed}}<div class="alert-message error">Invalid username and/or password! Please try again.</div>{{end}}
	<div class="cbi-value"><label class="cbi-value-title" for="luci_username">Username</label>
		<div class="cbi-value-field"><input id="luci_username" name="luci_username" type="text" value="root" autocomplete="username"></div></div>
	<div class="cbi-value"><label class="cbi-value-title" for="luci_password">Password</label>
		<div class="cbi-value-field"><input id="luci_password" name="luci_password" type="password" autocomplete="current-password"></div></div>
	<div class="cbi-page-actions"><button class="btn cbi-button cbi-button-apply" type="submit">Login</button></div>
</form>
</div>
</body>
</html>
`))
