package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nuvol-project/nuvol/src/api"
)

// Options configure a Server.
type Options struct {
	Root     string // the source tree that holds luci-app/
	Backend  Backend
	UCIPath  string // the file behind uci config "nuvol"
	Password string
	Hostname string
	Logf     func(string, ...any)
}

// Server is the router stand-in: /ubus, the LuCI pages and static files.
type Server struct {
	opt    Options
	acl    map[string]aclGroup
	menu   map[string]menuNode
	static http.Handler

	mu       sync.Mutex
	sessions map[string]*session
	uci      *uciStore
}

type session struct {
	id, token, user string
	grants          *grants
}

const zeroSID = "00000000000000000000000000000000"

// NewServer reads the app's menu.d and acl.d files from opt.Root.
func NewServer(opt Options) (*Server, error) {
	app := filepath.Join(opt.Root, "luci-app")
	acl, err := loadACL(filepath.Join(app, "root/usr/share/rpcd/acl.d/luci-app-nuvol.json"))
	if err != nil {
		return nil, err
	}
	menu, err := loadMenu(filepath.Join(app, "root/usr/share/luci/menu.d/luci-app-nuvol.json"))
	if err != nil {
		return nil, err
	}
	if opt.Logf == nil {
		opt.Logf = func(string, ...any) {}
	}
	s := &Server{opt: opt, acl: acl, menu: menu, sessions: map[string]*session{},
		uci: newUCIStore(map[string]string{"nuvol": opt.UCIPath})}
	mux := http.NewServeMux()
	// The stand-in library replaces LuCI's own cbi.js and luci.js; the
	// app's views are served from its htdocs, as uhttpd serves /www.
	harness := filepath.Join(app, "tests/harness")
	mux.HandleFunc("/luci-static/resources/cbi.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(harness, "cbi.js"))
	})
	mux.HandleFunc("/luci-static/resources/luci.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(harness, "luci.js"))
	})
	mux.Handle("/luci-static/harness/", http.StripPrefix("/luci-static/harness/", http.FileServer(http.Dir(harness))))
	mux.Handle("/luci-static/", http.StripPrefix("/luci-static/", http.FileServer(http.Dir(filepath.Join(app, "htdocs/luci-static")))))
	s.static = mux
	return s, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/ubus" || p == "/ubus/":
		s.serveUbus(w, r)
	case p == "/" || p == "/cgi-bin/luci" || p == "/cgi-bin/luci/":
		http.Redirect(w, r, "/cgi-bin/luci/admin/services/nuvol", http.StatusFound)
	case strings.HasPrefix(p, "/cgi-bin/luci/admin/uci/"):
		s.serveApply(w, r, strings.TrimPrefix(p, "/cgi-bin/luci/admin/uci/"))
	case strings.HasPrefix(p, "/cgi-bin/luci/"):
		s.servePage(w, r)
	default:
		s.static.ServeHTTP(w, r)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// login checks a user's password and opens a session, as `session login`.
func (s *Server) login(user, password string) *session {
	if _, ok := users[user]; !ok || password != s.opt.Password {
		return nil
	}
	sess := &session{id: randomHex(16), token: randomHex(16), user: user, grants: grantsFor(user, s.acl)}
	s.mu.Lock()
	s.sessions[sess.id] = sess
	s.mu.Unlock()
	return sess
}

func (s *Server) session(sid string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[sid]
}

/* ------------------------------------------------------------ JSON-RPC */

type rpcRequest struct {
	JSONRPC string            `json:"jsonrpc"`
	ID      json.RawMessage   `json:"id"`
	Method  string            `json:"method"`
	Params  []json.RawMessage `json:"params"`
}

type rpcReply struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  any             `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

var (
	errParse          = &rpcError{-32700, "Parse error"}
	errMethod         = &rpcError{-32601, "Method not found"}
	errParams         = &rpcError{-32602, "Invalid parameters"}
	errObject         = &rpcError{-32000, "Object not found"}
	errAccess         = &rpcError{-32002, "Access denied"}
	errInvalidRequest = &rpcError{-32600, "Invalid request"}
)

// serveUbus answers uhttpd's /ubus: one request object, or an array of them
// answered by an array in the same order. HTTP is always 200.
func (s *Server) serveUbus(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	var body json.RawMessage
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil {
		json.NewEncoder(w).Encode(rpcReply{JSONRPC: "2.0", ID: json.RawMessage("null"), Error: errParse})
		return
	}
	if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '[' {
		var reqs []json.RawMessage
		if err := json.Unmarshal(body, &reqs); err != nil || len(reqs) == 0 {
			json.NewEncoder(w).Encode(rpcReply{JSONRPC: "2.0", ID: json.RawMessage("null"), Error: errParse})
			return
		}
		out := make([]rpcReply, len(reqs))
		for i, raw := range reqs {
			out[i] = s.handleRPC(r.Context(), raw)
		}
		json.NewEncoder(w).Encode(out)
		return
	}
	json.NewEncoder(w).Encode(s.handleRPC(r.Context(), body))
}

func (s *Server) handleRPC(ctx context.Context, raw json.RawMessage) rpcReply {
	var req rpcRequest
	rep := rpcReply{JSONRPC: "2.0", ID: json.RawMessage("null")}
	if err := json.Unmarshal(raw, &req); err != nil {
		rep.Error = errParse
		return rep
	}
	if len(req.ID) > 0 {
		rep.ID = req.ID
	}
	if req.JSONRPC != "2.0" {
		rep.Error = errInvalidRequest
		return rep
	}
	switch req.Method {
	case "list":
		rep.Result = s.list(req.Params)
		return rep
	case "call":
	default:
		rep.Error = errMethod
		return rep
	}
	if len(req.Params) < 4 {
		rep.Error = errParse
		return rep
	}
	var sid, object, method string
	var args map[string]any
	if json.Unmarshal(req.Params[0], &sid) != nil || json.Unmarshal(req.Params[1], &object) != nil ||
		json.Unmarshal(req.Params[2], &method) != nil {
		rep.Error = errParse
		return rep
	}
	dec := json.NewDecoder(bytes.NewReader(req.Params[3]))
	dec.UseNumber()
	if dec.Decode(&args) != nil {
		rep.Error = errParse
		return rep
	}
	if args == nil {
		args = map[string]any{}
	}
	if _, ok := args["ubus_rpc_session"]; ok {
		rep.Error = errParams
		return rep
	}
	// uhttpd asks rpcd whether the session may call object.method.
	sess := s.session(sid)
	if sess == nil && !(sid == zeroSID && unauthenticated(object, method)) {
		rep.Error = errAccess
		return rep
	}
	if sess != nil && !sess.grants.allowUbus(object, method) {
		rep.Error = errAccess
		return rep
	}
	switch object {
	case "session":
		rep.Result = s.callSession(sess, method, args)
	case "luci":
		rep.Result = []any{0, map[string]any{}}
	case "file":
		// No preload/*.js here: rpcd's file plugin would say "not found".
		rep.Result = []any{4}
	case "uci":
		rep.Result = s.uci.call(sess, method, args)
	case "nuvol":
		// uhttpd adds the session to the arguments; the daemon ignores it.
		args["ubus_rpc_session"] = sid
		rep.Result = s.callNuvol(ctx, method, args)
	default:
		rep.Error = errObject
	}
	return rep
}

func (s *Server) callNuvol(ctx context.Context, method string, args map[string]any) []any {
	for k, v := range args {
		if n, ok := v.(json.Number); ok {
			if i, err := n.Int64(); err == nil {
				args[k] = i
			} else if f, err := n.Float64(); err == nil {
				args[k] = f
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	res, err := s.opt.Backend.Call(ctx, method, args)
	if err != nil {
		e := api.AsError(err)
		s.opt.Logf("nuvol %s: %v", method, e)
		// A failed call still carries its message, as a ubus object may
		// send a data reply before a non-zero status: [status, {error}].
		return []any{int(e.Code), map[string]any{"error": e.Message}}
	}
	return []any{0, res}
}

func (s *Server) callSession(sess *session, method string, args map[string]any) []any {
	str := func(k string) string { v, _ := args[k].(string); return v }
	switch method {
	case "login":
		ns := s.login(str("username"), str("password"))
		if ns == nil {
			return []any{6}
		}
		return []any{0, map[string]any{"ubus_rpc_session": ns.id, "timeout": 300, "expires": 300,
			"acls": map[string]any{"access-group": ns.grants.groups}, "data": map[string]any{"username": ns.user}}}
	case "access":
		if sess == nil {
			return []any{0, map[string]any{"access": false}}
		}
		return []any{0, map[string]any{"access": sess.grants.allow(str("scope"), str("object"), str("function"))}}
	case "destroy":
		if sess != nil {
			s.mu.Lock()
			delete(s.sessions, sess.id)
			s.mu.Unlock()
		}
		return []any{0}
	}
	return []any{3}
}

// list answers the `list` method: object names, or their signatures.
func (s *Server) list(params []json.RawMessage) any {
	sigs := map[string]map[string]map[string]string{
		"session": {"login": {"username": "string", "password": "string"}, "access": {"scope": "string", "object": "string", "function": "string"}, "destroy": {}},
		"uci": {"get": {"config": "string", "section": "string", "option": "string"}, "changes": {"config": "string"},
			"set": {"config": "string", "section": "string", "values": "object"}, "add": {"config": "string", "type": "string", "name": "string", "values": "object"},
			"delete": {"config": "string", "section": "string", "option": "string", "options": "array"}, "order": {"config": "string", "sections": "array"},
			"commit": {"config": "string"}, "revert": {"config": "string"}},
		"luci":  {"getFeatures": {}},
		"nuvol": {},
	}
	for _, m := range api.Spec() {
		a := map[string]string{}
		for _, arg := range m.Args {
			switch arg.Type {
			case api.Int:
				a[arg.Name] = "number"
			case api.Bool:
				a[arg.Name] = "boolean"
			default:
				a[arg.Name] = "string"
			}
		}
		sigs["nuvol"][m.Name] = a
	}
	if len(params) == 0 {
		return []string{"luci", "nuvol", "session", "uci"}
	}
	out := map[string]any{}
	for _, p := range params {
		var name string
		if json.Unmarshal(p, &name) == nil {
			if sig, ok := sigs[name]; ok {
				out[name] = sig
			}
		}
	}
	return out
}

// serveApply is LuCI's admin/uci CGI: apply_rollback, apply_unchecked and
// confirm commit the session's staged changes; revert drops them.
func (s *Server) serveApply(w http.ResponseWriter, r *http.Request, action string) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	r.ParseForm()
	if action == "confirm" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	sid := r.PostForm.Get("sid")
	if c, err := r.Cookie("sysauth_http"); sid == "" && err == nil {
		sid = c.Value
	}
	sess := s.session(sid)
	if sess == nil || r.PostForm.Get("token") != sess.token {
		w.Header().Set("X-LuCI-Login-Required", "yes")
		http.Error(w, "Forbidden", http.StatusForbidden)
		return
	}
	switch action {
	case "apply_rollback", "apply_unchecked":
		if err := s.uci.commitAll(sess); err != nil {
			s.opt.Logf("apply: %v", err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if action == "apply_unchecked" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"token": randomHex(16)})
	case "revert":
		s.uci.revertAll(sess)
		w.WriteHeader(http.StatusOK)
	default:
		http.NotFound(w, r)
	}
}
