package api

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Type is the type of one argument, as ubus's method signature states it.
type Type int

// Argument types. They map to blobmsg string, int32 and bool.
const (
	String Type = iota
	Int
	Bool
)

func (t Type) String() string {
	switch t {
	case String:
		return "string"
	case Int:
		return "integer"
	case Bool:
		return "boolean"
	}
	return "unknown"
}

// Arg is one entry of a method's argument policy.
type Arg struct {
	Name     string
	Type     Type
	Required bool
	// Check, when set, validates a present value after its type is known.
	// It returns a message in words; the table adds the method and name.
	Check func(v any) string
}

// Handler runs one method with checked arguments.
type Handler func(ctx context.Context, args Args) (map[string]any, error)

// Method is one row of the table.
type Method struct {
	Name string
	Args []Arg
	// Changes is true for methods that change the node (install, stop, ...).
	// LuCI's ACL grants these only with write access.
	Changes bool
	Handler Handler
}

// Args are a call's arguments after the policy check: only the names the
// policy knows, each with its declared Go type (string, int or bool).
type Args map[string]any

// String returns a string argument, or "" when it is absent.
func (a Args) String(name string) string { s, _ := a[name].(string); return s }

// Int returns an integer argument and whether it was given.
func (a Args) Int(name string) (int, bool) { n, ok := a[name].(int); return n, ok }

// Bool returns a boolean argument and whether it was given.
func (a Args) Bool(name string) (bool, bool) { b, ok := a[name].(bool); return b, ok }

// Table is the method table. It is safe for concurrent use.
type Table struct {
	methods map[string]*Method
	order   []string
}

// NewTable builds a table from methods (their order is kept for listings).
func NewTable(methods []Method) *Table {
	t := &Table{methods: make(map[string]*Method, len(methods))}
	for i := range methods {
		m := methods[i]
		t.methods[m.Name] = &m
		t.order = append(t.order, m.Name)
	}
	return t
}

// Methods returns the rows in table order.
func (t *Table) Methods() []Method {
	out := make([]Method, 0, len(t.order))
	for _, n := range t.order {
		out = append(out, *t.methods[n])
	}
	return out
}

// Lookup finds a method by name.
func (t *Table) Lookup(name string) (*Method, bool) {
	m, ok := t.methods[name]
	return m, ok
}

// Call checks args against the method's policy and runs its handler. Keys the
// policy does not name are ignored: uhttpd adds ubus_rpc_session to every call
// that comes through LuCI. Every failure is an *Error.
func (t *Table) Call(ctx context.Context, method string, args map[string]any) (map[string]any, error) {
	m, ok := t.methods[method]
	if !ok {
		return nil, Errorf(StatusMethodNotFound, "no method %q (methods: %s)", method, strings.Join(t.order, ", "))
	}
	checked, err := m.Check(args)
	if err != nil {
		return nil, err
	}
	res, err := m.Handler(ctx, checked)
	if err != nil {
		return nil, AsError(err)
	}
	if res == nil {
		res = map[string]any{}
	}
	return res, nil
}

// Check applies the policy to raw arguments, as they come from JSON (float64
// numbers) or from ubus (int8..int64, bool as int8). It returns the arguments
// with their declared types, or an INVALID_ARGUMENT *Error naming the
// argument and the value.
func (m *Method) Check(raw map[string]any) (Args, error) {
	out := make(Args, len(m.Args))
	for _, a := range m.Args {
		v, present := raw[a.Name]
		if !present || v == nil {
			if a.Required {
				return nil, Errorf(StatusInvalidArgument, "%s: argument %q is required", m.Name, a.Name)
			}
			continue
		}
		cv, ok := convert(a.Type, v)
		if !ok {
			return nil, Errorf(StatusInvalidArgument, "%s: argument %q: want %s, got %s", m.Name, a.Name, a.Type, describe(v))
		}
		if a.Type == String && cv.(string) == "" && a.Required {
			return nil, Errorf(StatusInvalidArgument, "%s: argument %q is required", m.Name, a.Name)
		}
		if a.Check != nil {
			if msg := a.Check(cv); msg != "" {
				return nil, Errorf(StatusInvalidArgument, "%s: argument %q: %s", m.Name, a.Name, msg)
			}
		}
		out[a.Name] = cv
	}
	return out, nil
}

// convert coerces a raw value to t. Integers written as strings ("8080") are
// accepted because HTML forms and shell scripts produce them; fractions and
// out-of-range numbers are not.
func convert(t Type, v any) (any, bool) {
	switch t {
	case String:
		s, ok := v.(string)
		return s, ok
	case Int:
		switch n := v.(type) {
		case int:
			return n, true
		case int8:
			return int(n), true
		case int16:
			return int(n), true
		case int32:
			return int(n), true
		case int64:
			if n < math.MinInt32 || n > math.MaxInt32 {
				return nil, false
			}
			return int(n), true
		case uint8:
			return int(n), true
		case uint16:
			return int(n), true
		case uint32:
			if n > math.MaxInt32 {
				return nil, false
			}
			return int(n), true
		case float64:
			if n != math.Trunc(n) || n < math.MinInt32 || n > math.MaxInt32 {
				return nil, false
			}
			return int(n), true
		case json.Number:
			i, err := strconv.ParseInt(string(n), 10, 32)
			return int(i), err == nil
		case string:
			i, err := strconv.ParseInt(strings.TrimSpace(n), 10, 32)
			return int(i), err == nil
		}
	case Bool:
		switch b := v.(type) {
		case bool:
			return b, true
		case string:
			// UCI's spellings, as LuCI forms send them.
			switch strings.ToLower(b) {
			case "1", "true", "yes", "on":
				return true, true
			case "0", "false", "no", "off":
				return false, true
			}
		case int8, int16, int32, int64, int, float64, json.Number:
			n, ok := convert(Int, b)
			if ok && (n == 0 || n == 1) {
				return n == 1, true
			}
		}
	}
	return nil, false
}

// describe shows a bad value the way a user wrote it, shortened.
func describe(v any) string {
	b, err := json.Marshal(v)
	s := string(b)
	if err != nil {
		s = fmt.Sprintf("%v", v)
	}
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	switch v.(type) {
	case map[string]any:
		return "an object " + s
	case []any:
		return "an array " + s
	}
	return s
}

// names returns the method names with Changes == changes, sorted.
func names(ms []Method, changes bool) []string {
	var out []string
	for _, m := range ms {
		if m.Changes == changes {
			out = append(out, m.Name)
		}
	}
	sort.Strings(out)
	return out
}
