package ubus

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"reflect"
	"sort"
	"strconv"
)

// Field is one member of a Table.
type Field struct {
	Name  string
	Value any
}

// Table is a blobmsg table whose members keep the order given, unlike a
// map, which is encoded in sorted key order.
type Table []Field

// Encode returns the blobmsg encoding of the members of v, a table: the
// attribute list that goes inside a ubus DATA attribute. v may be nil (no
// members), a map with string keys, a Table, or a struct.
func Encode(v any) ([]byte, error) {
	var b Builder
	if err := b.PutMembers(v); err != nil {
		return nil, err
	}
	return b.Bytes(), b.Err()
}

// PutMembers adds the members of the table v without opening a table.
func (b *Builder) PutMembers(v any) error {
	switch t := v.(type) {
	case nil:
		return nil
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if err := b.PutValue(k, t[k]); err != nil {
				return err
			}
		}
		return nil
	case Table:
		for _, f := range t {
			if err := b.PutValue(f.Name, f.Value); err != nil {
				return err
			}
		}
		return nil
	case json.RawMessage:
		return b.putJSONMembers(t)
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Map && rv.Type().Key().Kind() == reflect.String {
		return b.putMap(rv)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("ubus: encode %T: %w", v, err)
	}
	return b.putJSONMembers(raw)
}

func (b *Builder) putMap(rv reflect.Value) error {
	keys := rv.MapKeys()
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	for _, k := range keys {
		if err := b.PutValue(k.String(), rv.MapIndex(k).Interface()); err != nil {
			return err
		}
	}
	return nil
}

// putInt writes an integer as libblobmsg_json does for a JSON number:
// INT32 when it fits, INT64 otherwise.
func (b *Builder) putInt(name string, v int64) {
	if v >= math.MinInt32 && v <= math.MaxInt32 {
		b.PutInt32(name, int32(v))
	} else {
		b.PutInt64(name, v)
	}
}

// PutValue adds the Go value v under name (name is ignored inside arrays
// by readers, and should be ""). See the package documentation for the
// mapping of types.
func (b *Builder) PutValue(name string, v any) error {
	switch t := v.(type) {
	case nil:
		b.PutUnspec(name)
	case string:
		b.PutString(name, t)
	case bool:
		b.PutBool(name, t)
	case int8:
		b.PutInt8(name, t)
	case int16:
		b.PutInt16(name, t)
	case int32:
		b.PutInt32(name, t)
	case int64:
		b.PutInt64(name, t)
	case int:
		b.putInt(name, int64(t))
	case uint8:
		b.PutInt32(name, int32(t))
	case uint16:
		b.PutInt32(name, int32(t))
	case uint32:
		b.putInt(name, int64(t))
	case uint:
		b.putInt(name, int64(t))
	case uint64:
		b.putInt(name, int64(t))
	case float64:
		b.PutDouble(name, t)
	case float32:
		b.PutDouble(name, float64(t))
	case []byte:
		b.PutString(name, string(t))
	case json.Number:
		return b.putJSONNumber(name, string(t))
	case json.RawMessage:
		return b.putJSONValue(name, t)
	case map[string]any, Table:
		b.OpenTable(name)
		if err := b.PutMembers(t); err != nil {
			return err
		}
		b.Close()
	case []any:
		b.OpenArray(name)
		for _, e := range t {
			if err := b.PutValue("", e); err != nil {
				return err
			}
		}
		b.Close()
	case []string:
		b.OpenArray(name)
		for _, e := range t {
			b.PutString("", e)
		}
		b.Close()
	case []map[string]any:
		b.OpenArray(name)
		for _, e := range t {
			if err := b.PutValue("", e); err != nil {
				return err
			}
		}
		b.Close()
	default:
		return b.putReflect(name, v)
	}
	return nil
}

func (b *Builder) putReflect(name string, v any) error {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			break
		}
		b.OpenTable(name)
		if err := b.putMap(rv); err != nil {
			return err
		}
		b.Close()
		return nil
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			b.OpenArray(name)
			b.Close()
			return nil
		}
		b.OpenArray(name)
		for i := 0; i < rv.Len(); i++ {
			if err := b.PutValue("", rv.Index(i).Interface()); err != nil {
				return err
			}
		}
		b.Close()
		return nil
	case reflect.String:
		b.PutString(name, rv.String())
		return nil
	case reflect.Bool:
		b.PutBool(name, rv.Bool())
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		b.putInt(name, rv.Int())
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		b.putInt(name, int64(rv.Uint()))
		return nil
	case reflect.Float32, reflect.Float64:
		b.PutDouble(name, rv.Float())
		return nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("ubus: encode %q (%T): %w", name, v, err)
	}
	return b.putJSONValue(name, raw)
}

// EncodeJSON converts a JSON object to the blobmsg attribute list that
// `ubus call` and `ubus send` put on the wire for it: members in text order,
// integers as INT32 or INT64, other numbers as DOUBLE, booleans as INT8,
// null as UNSPEC. Anything but an object at the top is an error, as it is
// for the CLI.
func EncodeJSON(text []byte) ([]byte, error) {
	var b Builder
	if err := b.putJSONMembers(text); err != nil {
		return nil, err
	}
	return b.Bytes(), b.Err()
}

func (b *Builder) putJSONMembers(text []byte) error {
	d := json.NewDecoder(bytes.NewReader(text))
	d.UseNumber()
	tok, err := d.Token()
	if err != nil {
		return fmt.Errorf("ubus: json: %w", err)
	}
	if tok != json.Delim('{') {
		return fmt.Errorf("ubus: json: top level is %v, not an object", tok)
	}
	if err := b.jsonContainer(d, '{', 0); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return fmt.Errorf("ubus: json: data after the object")
	}
	return nil
}

func (b *Builder) putJSONValue(name string, text []byte) error {
	d := json.NewDecoder(bytes.NewReader(text))
	d.UseNumber()
	tok, err := d.Token()
	if err != nil {
		return fmt.Errorf("ubus: json: %w", err)
	}
	return b.jsonToken(d, name, tok, 0)
}

func (b *Builder) jsonContainer(d *json.Decoder, open json.Delim, depth int) error {
	if depth > MaxDepth {
		return fmt.Errorf("ubus: json: nested deeper than %d", MaxDepth)
	}
	for d.More() {
		name := ""
		if open == '{' {
			tok, err := d.Token()
			if err != nil {
				return fmt.Errorf("ubus: json: %w", err)
			}
			name, _ = tok.(string)
		}
		tok, err := d.Token()
		if err != nil {
			return fmt.Errorf("ubus: json: %w", err)
		}
		if err := b.jsonToken(d, name, tok, depth); err != nil {
			return err
		}
	}
	_, err := d.Token() // the closing delimiter
	if err != nil {
		return fmt.Errorf("ubus: json: %w", err)
	}
	return nil
}

func (b *Builder) jsonToken(d *json.Decoder, name string, tok json.Token, depth int) error {
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			b.OpenTable(name)
		} else {
			b.OpenArray(name)
		}
		if err := b.jsonContainer(d, t, depth+1); err != nil {
			return err
		}
		b.Close()
	case string:
		b.PutString(name, t)
	case bool:
		b.PutBool(name, t)
	case nil:
		b.PutUnspec(name)
	case json.Number:
		return b.putJSONNumber(name, string(t))
	}
	return nil
}

func (b *Builder) putJSONNumber(name, s string) error {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		b.putInt(name, i)
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("ubus: json: %q is not a number", s)
	}
	b.PutDouble(name, f)
	return nil
}

// Decode turns a blobmsg attribute list (the body of a ubus DATA attribute)
// into a map. Bad input is an error wrapping ErrMalformed, never a panic.
func Decode(body []byte) (map[string]any, error) {
	return decodeTable(body, 0)
}

func decodeTable(b []byte, depth int) (map[string]any, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("%w: nested deeper than %d", ErrMalformed, MaxDepth)
	}
	m := make(map[string]any)
	for len(b) > 0 {
		a, rest, err := nextAttr(b)
		if err != nil {
			return nil, err
		}
		if !a.extended {
			return nil, fmt.Errorf("%w: table member without a blobmsg header", ErrMalformed)
		}
		v, err := decodeValue(a, depth)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.name, err)
		}
		m[string(a.name)] = v
		b = rest
	}
	return m, nil
}

func decodeArray(b []byte, depth int) ([]any, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("%w: nested deeper than %d", ErrMalformed, MaxDepth)
	}
	l := []any{}
	for len(b) > 0 {
		a, rest, err := nextAttr(b)
		if err != nil {
			return nil, err
		}
		if !a.extended {
			return nil, fmt.Errorf("%w: array element without a blobmsg header", ErrMalformed)
		}
		v, err := decodeValue(a, depth)
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", len(l), err)
		}
		l = append(l, v)
		b = rest
	}
	return l, nil
}

// checkSize applies blobmsg_check_attr's rules for fixed-size values.
func checkSize(a attr) error {
	want := -1
	switch Type(a.id) {
	case TypeInt8:
		want = 1
	case TypeInt16:
		want = 2
	case TypeInt32:
		want = 4
	case TypeInt64, TypeDouble:
		want = 8
	case TypeString:
		if len(a.data) == 0 || a.data[len(a.data)-1] != 0 {
			return fmt.Errorf("%w: string is not NUL-terminated", ErrMalformed)
		}
	case TypeUnspec, TypeArray, TypeTable:
	default:
		return fmt.Errorf("%w: unknown blobmsg type %d", ErrMalformed, a.id)
	}
	if want >= 0 && len(a.data) != want {
		return fmt.Errorf("%w: %s value of %d bytes, want %d", ErrMalformed, Type(a.id), len(a.data), want)
	}
	return nil
}

func decodeValue(a attr, depth int) (any, error) {
	if err := checkSize(a); err != nil {
		return nil, err
	}
	switch Type(a.id) {
	case TypeUnspec:
		return nil, nil
	case TypeArray:
		return decodeArray(a.data, depth+1)
	case TypeTable:
		return decodeTable(a.data, depth+1)
	case TypeString:
		return string(a.data[:len(a.data)-1]), nil
	case TypeInt8:
		return a.data[0] != 0, nil
	case TypeInt16:
		return int16(binary.BigEndian.Uint16(a.data)), nil
	case TypeInt32:
		return int32(binary.BigEndian.Uint32(a.data)), nil
	case TypeInt64:
		return int64(binary.BigEndian.Uint64(a.data)), nil
	default: // TypeDouble; checkSize rejected the rest
		return math.Float64frombits(binary.BigEndian.Uint64(a.data)), nil
	}
}

// FormatJSON prints a blobmsg attribute list as a JSON object exactly as
// the ubus CLI does: with indent, as `ubus call` prints (tabs, "key": value);
// without, as `ubus call -S` and `ubus listen` print (compact). Doubles
// print with six decimals (C's %lf) and every INT8 as a bool.
func FormatJSON(body []byte, indent bool) (string, error) {
	f := jsonFormatter{indent: indent, out: make([]byte, 0, len(body)+len(body)/2)}
	if err := f.list(body, false, 0); err != nil {
		return "", err
	}
	return string(f.out), nil
}

type jsonFormatter struct {
	out    []byte
	indent bool
	level  int
}

// sep writes a newline and one tab per level, as libubox's add_separator
// does (which caps the tabs at 16).
func (f *jsonFormatter) sep() {
	if !f.indent {
		return
	}
	f.out = append(f.out, '\n')
	for i := 0; i < f.level && i < 16; i++ {
		f.out = append(f.out, '\t')
	}
}

func (f *jsonFormatter) list(b []byte, array bool, depth int) error {
	if depth > MaxDepth {
		return fmt.Errorf("%w: nested deeper than %d", ErrMalformed, MaxDepth)
	}
	open, close := byte('{'), byte('}')
	if array {
		open, close = '[', ']'
	}
	f.out = append(f.out, open)
	f.level++
	f.sep()
	first := true
	for len(b) > 0 {
		a, rest, err := nextAttr(b)
		if err != nil {
			return err
		}
		b = rest
		if !a.extended {
			return fmt.Errorf("%w: member without a blobmsg header", ErrMalformed)
		}
		if err := checkSize(a); err != nil {
			return err
		}
		if !first {
			f.out = append(f.out, ',')
			f.sep()
		}
		first = false
		if !array && len(a.name) > 0 {
			f.str(a.name)
			if f.indent {
				f.out = append(f.out, ": "...)
			} else {
				f.out = append(f.out, ':')
			}
		}
		if err := f.value(a, depth); err != nil {
			return err
		}
	}
	f.level--
	f.sep()
	f.out = append(f.out, close)
	return nil
}

func (f *jsonFormatter) value(a attr, depth int) error {
	switch Type(a.id) {
	case TypeUnspec:
		f.out = append(f.out, "null"...)
	case TypeInt8:
		if a.data[0] != 0 {
			f.out = append(f.out, "true"...)
		} else {
			f.out = append(f.out, "false"...)
		}
	case TypeInt16:
		f.out = strconv.AppendInt(f.out, int64(int16(binary.BigEndian.Uint16(a.data))), 10)
	case TypeInt32:
		f.out = strconv.AppendInt(f.out, int64(int32(binary.BigEndian.Uint32(a.data))), 10)
	case TypeInt64:
		f.out = strconv.AppendInt(f.out, int64(binary.BigEndian.Uint64(a.data)), 10)
	case TypeDouble:
		f.out = appendCDouble(f.out, math.Float64frombits(binary.BigEndian.Uint64(a.data)))
	case TypeString:
		f.str(a.data[:len(a.data)-1])
	case TypeArray:
		return f.list(a.data, true, depth+1)
	case TypeTable:
		return f.list(a.data, false, depth+1)
	}
	return nil
}

// appendCDouble formats like glibc's printf("%lf").
func appendCDouble(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		if math.Signbit(v) {
			return append(b, "-nan"...)
		}
		return append(b, "nan"...)
	case math.IsInf(v, 1):
		return append(b, "inf"...)
	case math.IsInf(v, -1):
		return append(b, "-inf"...)
	}
	return strconv.AppendFloat(b, v, 'f', 6, 64)
}

// str writes a string with libubox's escaping: \b \n \t \r \" \\, \u00XX
// for other control bytes, everything else (UTF-8 or not) raw. A NUL ends
// the string, as it does for C.
func (f *jsonFormatter) str(s []byte) {
	const hex = "0123456789abcdef"
	f.out = append(f.out, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case 0:
			i = len(s)
			continue
		case '\b':
			f.out = append(f.out, '\\', 'b')
		case '\n':
			f.out = append(f.out, '\\', 'n')
		case '\t':
			f.out = append(f.out, '\\', 't')
		case '\r':
			f.out = append(f.out, '\\', 'r')
		case '"', '\\':
			f.out = append(f.out, '\\', c)
		default:
			if c < ' ' {
				f.out = append(f.out, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			} else {
				f.out = append(f.out, c)
			}
		}
	}
	f.out = append(f.out, '"')
}

// Value is one blobmsg attribute left encoded: its type, its name, and its
// value bytes (for TABLE and ARRAY, the encoded members).
type Value struct {
	Type Type
	Name string
	Data []byte
}

// Split returns the blobmsg attributes of a list without decoding their
// values, so they can be inspected or copied byte for byte.
func Split(body []byte) ([]Value, error) {
	var vs []Value
	for len(body) > 0 {
		a, rest, err := nextAttr(body)
		if err != nil {
			return nil, err
		}
		if !a.extended {
			return nil, fmt.Errorf("%w: attribute without a blobmsg header", ErrMalformed)
		}
		if err := checkSize(a); err != nil {
			return nil, err
		}
		vs = append(vs, Value{Type: Type(a.id), Name: string(a.name), Data: a.data})
		body = rest
	}
	return vs, nil
}

// Uint32 returns an INT32 value as the unsigned id it often is.
func (v Value) Uint32() (uint32, bool) {
	if v.Type != TypeInt32 || len(v.Data) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(v.Data), true
}

// Str returns a STRING value without its NUL.
func (v Value) Str() (string, bool) {
	if v.Type != TypeString || len(v.Data) == 0 {
		return "", false
	}
	return string(v.Data[:len(v.Data)-1]), true
}
