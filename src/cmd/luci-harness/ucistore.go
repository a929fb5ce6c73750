package main

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"sync"

	"github.com/nuvol-project/nuvol/src/uci"
)

// uciStore is rpcd's `uci` object: reads see the file plus the session's
// staged changes; set/add/delete/order only stage; commit (or LuCI's apply)
// writes the file the way `uci commit` does.
type uciStore struct {
	files map[string]string // config name -> file path

	mu     sync.Mutex
	staged map[string]map[string][]uciOp // session -> config -> ops
}

type uciOp struct {
	Op, Section, Type string
	Values            map[string]any // set, add
	Options           []string       // delete (nil = the whole section)
	Order             []string
}

func newUCIStore(files map[string]string) *uciStore {
	return &uciStore{files: files, staged: map[string]map[string][]uciOp{}}
}

// readFns are the uci methods that only need read access.
var readFns = map[string]bool{"get": true, "changes": true}

func (u *uciStore) call(sess *session, method string, args map[string]any) []any {
	str := func(k string) string { v, _ := args[k].(string); return v }
	config := str("config")
	if method == "changes" && config == "" {
		out := map[string]any{}
		for c := range u.files {
			if sess.grants.allowUCI(c, "read") {
				if ch := u.changes(sess, c); len(ch) > 0 {
					out[c] = ch
				}
			}
		}
		return []any{0, map[string]any{"changes": out}}
	}
	fn := "write"
	if readFns[method] {
		fn = "read"
	}
	if config == "" {
		return []any{2}
	}
	if !sess.grants.allowUCI(config, fn) {
		return []any{6}
	}
	path, ok := u.files[config]
	if !ok {
		return []any{4}
	}
	switch method {
	case "get":
		f, err := u.view(sess, config, path)
		if err != nil {
			return []any{4}
		}
		values := sectionsJSON(f)
		if sec := str("section"); sec != "" {
			v, ok := values[sec]
			if !ok {
				return []any{4}
			}
			if opt := str("option"); opt != "" {
				ov, ok := v.(map[string]any)[opt]
				if !ok {
					return []any{4}
				}
				return []any{0, map[string]any{"value": ov}}
			}
			return []any{0, map[string]any{"values": v}}
		}
		return []any{0, map[string]any{"values": values}}
	case "changes":
		return []any{0, map[string]any{"changes": u.changes(sess, config)}}
	case "set":
		vals, _ := args["values"].(map[string]any)
		if str("section") == "" || vals == nil {
			return []any{2}
		}
		return u.stage(sess, config, path, uciOp{Op: "set", Section: str("section"), Values: vals})
	case "add":
		name := str("name")
		if str("type") == "" {
			return []any{2}
		}
		if name == "" {
			name = "cfg" + randomHex(3)
		}
		vals, _ := args["values"].(map[string]any)
		if st := u.stage(sess, config, path, uciOp{Op: "add", Section: name, Type: str("type"), Values: vals}); st[0] != 0 {
			return st
		}
		return []any{0, map[string]any{"section": name}}
	case "delete":
		op := uciOp{Op: "delete", Section: str("section")}
		if o := str("option"); o != "" {
			op.Options = []string{o}
		}
		if list, ok := args["options"].([]any); ok {
			for _, o := range list {
				if s, ok := o.(string); ok {
					op.Options = append(op.Options, s)
				}
			}
		}
		return u.stage(sess, config, path, op)
	case "order":
		op := uciOp{Op: "order"}
		if list, ok := args["sections"].([]any); ok {
			for _, o := range list {
				if s, ok := o.(string); ok {
					op.Order = append(op.Order, s)
				}
			}
		}
		return u.stage(sess, config, path, op)
	case "commit", "apply":
		if err := u.commit(sess, config, path); err != nil {
			return []any{9}
		}
		return []any{0}
	case "revert":
		u.mu.Lock()
		delete(u.staged[sess.id], config)
		u.mu.Unlock()
		return []any{0}
	case "confirm":
		return []any{0}
	}
	return []any{3}
}

func (u *uciStore) ops(sess *session, config string) []uciOp {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]uciOp(nil), u.staged[sess.id][config]...)
}

// stage checks an op against the current view, then records it.
func (u *uciStore) stage(sess *session, config, path string, op uciOp) []any {
	f, err := u.view(sess, config, path)
	if err != nil {
		return []any{4}
	}
	if err := apply(f, op); err != nil {
		if errors.Is(err, uci.ErrNotFound) {
			return []any{4}
		}
		return []any{2}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.staged[sess.id] == nil {
		u.staged[sess.id] = map[string][]uciOp{}
	}
	u.staged[sess.id][config] = append(u.staged[sess.id][config], op)
	return []any{0}
}

// view is the file as this session sees it: on disk plus staged ops.
func (u *uciStore) view(sess *session, config, path string) (*uci.File, error) {
	f, err := uci.Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		f = &uci.File{Package: config}
	} else if err != nil {
		return nil, err
	}
	for _, op := range u.ops(sess, config) {
		if err := apply(f, op); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func (u *uciStore) commit(sess *session, config, path string) error {
	ops := u.ops(sess, config)
	if len(ops) == 0 {
		return nil
	}
	err := uci.Update(path, func(f *uci.File) error {
		for _, op := range ops {
			if err := apply(f, op); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("commit %s: %w", config, err)
	}
	u.mu.Lock()
	delete(u.staged[sess.id], config)
	u.mu.Unlock()
	return nil
}

func (u *uciStore) commitAll(sess *session) error {
	for c, p := range u.files {
		if err := u.commit(sess, c, p); err != nil {
			return err
		}
	}
	return nil
}

func (u *uciStore) revertAll(sess *session) {
	u.mu.Lock()
	delete(u.staged, sess.id)
	u.mu.Unlock()
}

// changes lists staged ops as rpcd's `uci changes` does.
func (u *uciStore) changes(sess *session, config string) []any {
	out := []any{}
	for _, op := range u.ops(sess, config) {
		switch op.Op {
		case "add":
			out = append(out, []any{"add", op.Section, op.Type})
			for _, k := range sortedKeys(op.Values) {
				out = append(out, []any{"set", op.Section, k, op.Values[k]})
			}
		case "set":
			for _, k := range sortedKeys(op.Values) {
				out = append(out, []any{"set", op.Section, k, op.Values[k]})
			}
		case "delete":
			if op.Options == nil {
				out = append(out, []any{"remove", op.Section})
			}
			for _, o := range op.Options {
				out = append(out, []any{"remove", op.Section, o})
			}
		case "order":
			for i, s := range op.Order {
				out = append(out, []any{"order", s, fmt.Sprint(i)})
			}
		}
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// apply performs one staged op on f with the uci package's edit API.
func apply(f *uci.File, op uciOp) error {
	switch op.Op {
	case "add":
		if f.Section(op.Section) == nil {
			if _, err := f.AddSection(op.Type, op.Section); err != nil {
				return err
			}
		}
		return setValues(f, op.Section, op.Values)
	case "set":
		if f.Section(op.Section) == nil {
			return fmt.Errorf("section %q: %w", op.Section, uci.ErrNotFound)
		}
		return setValues(f, op.Section, op.Values)
	case "delete":
		if f.Section(op.Section) == nil {
			return fmt.Errorf("section %q: %w", op.Section, uci.ErrNotFound)
		}
		if op.Options == nil {
			f.DeleteSection(op.Section)
			return nil
		}
		for _, o := range op.Options {
			f.Delete(op.Section, o)
		}
	case "order":
		for i, s := range op.Order {
			if err := f.Reorder(s, i); err != nil {
				return err
			}
		}
	}
	return nil
}

func setValues(f *uci.File, section string, vals map[string]any) error {
	for _, k := range sortedKeys(vals) {
		switch v := vals[k].(type) {
		case []any:
			f.Delete(section, k)
			for _, item := range v {
				if err := f.AddList(section, k, fmt.Sprint(item)); err != nil {
					return err
				}
			}
		case nil:
			f.Delete(section, k)
		default:
			if err := f.Set(section, k, fmt.Sprint(v)); err != nil {
				return err
			}
		}
	}
	return nil
}

// sectionsJSON is `uci get {config}`'s values: every section by name with
// its .anonymous, .type, .name and .index, lists as arrays.
func sectionsJSON(f *uci.File) map[string]any {
	out := map[string]any{}
	for i, s := range f.Sections {
		m := map[string]any{".anonymous": s.Anonymous, ".type": s.Type, ".name": s.Name, ".index": i}
		for _, o := range s.Options {
			if o.IsList {
				vals := make([]any, len(o.Values))
				for j, v := range o.Values {
					vals[j] = v
				}
				m[o.Name] = vals
			} else if len(o.Values) > 0 {
				m[o.Name] = o.Values[0]
			}
		}
		out[s.Name] = m
	}
	return out
}
