package ubus

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// capture is one message of testdata/wire/*.txt: traffic between the real
// ubusd, the real ubus CLI and C example server, and this package (see
// testdata/README.md for how it was recorded).
type capture struct {
	dir  string // "c>d": client to ubusd; "d>c": ubusd to client
	typ  string
	raw  []byte
	line int
}

func readCapture(t *testing.T, name string) []capture {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "wire", name+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []capture
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 4<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Fields(line)
		if len(fs) != 3 {
			t.Fatalf("%s:%d: want 3 fields", name, n)
		}
		raw, err := hex.DecodeString(fs[2])
		if err != nil {
			t.Fatalf("%s:%d: %v", name, n, err)
		}
		out = append(out, capture{fs[0], fs[1], raw, n})
	}
	return out
}

// find returns the i-th (0-based) captured message with this direction and type.
func find(t *testing.T, caps []capture, dir, typ string, i int) *Message {
	t.Helper()
	for _, c := range caps {
		if c.dir == dir && c.typ == typ {
			if i == 0 {
				m, err := ParseMessage(c.raw)
				if err != nil {
					t.Fatalf("line %d: %v", c.line, err)
				}
				return m
			}
			i--
		}
	}
	t.Fatalf("no %s %s #%d in capture", dir, typ, i)
	return nil
}

func TestCapturesParse(t *testing.T) {
	files, _ := filepath.Glob("testdata/wire/*.txt")
	if len(files) == 0 {
		t.Fatal("no captures")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".txt")
		for _, c := range readCapture(t, name) {
			m, err := ParseMessage(c.raw)
			if err != nil {
				t.Fatalf("%s:%d: %v", name, c.line, err)
			}
			if m.Type.String() != c.typ {
				t.Errorf("%s:%d: type %v, capture says %s", name, c.line, m.Type, c.typ)
			}
			if got := m.AppendBinary(nil); !bytes.Equal(got, c.raw) {
				t.Errorf("%s:%d: re-encoded differs:\n %x\n %x", name, c.line, got, c.raw)
			}
			if d, ok := m.Raw(AttrData); ok {
				if _, err := Decode(d); err != nil {
					t.Errorf("%s:%d: DATA: %v", name, c.line, err)
				}
				if _, err := FormatJSON(d, true); err != nil {
					t.Errorf("%s:%d: DATA: %v", name, c.line, err)
				}
			}
			if sig, ok := m.Raw(AttrSignature); ok {
				vs, err := Split(sig)
				if ms := parseSignature(sig); err != nil || len(ms) != len(vs) {
					t.Errorf("%s:%d: signature %v: %v", name, c.line, ms, err)
				}
			}
		}
	}
}

func cliFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "cli", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The CLI prints each DATA reply as FormatJSON does, plus a newline.
func TestFormatJSONMatchesCLI(t *testing.T) {
	for _, c := range []struct{ capture, out string }{
		{"cli-call-echo", "call-echo.txt"},
		{"cli-call-install", "call-install.txt"},
		{"cli-call-test-hello", "call-test-hello.txt"},
	} {
		m := find(t, readCapture(t, c.capture), "d>c", "data", 1) // #0 is the lookup
		d, _ := m.Raw(AttrData)
		got, err := FormatJSON(d, true)
		if err != nil {
			t.Fatal(err)
		}
		if want := cliFile(t, c.out); got+"\n" != want {
			t.Errorf("%s: got\n%s\nwant\n%s", c.capture, got, want)
		}
	}
	m := find(t, readCapture(t, "cli-call-echo"), "d>c", "data", 1)
	d, _ := m.Raw(AttrData)
	got, _ := FormatJSON(d, false)
	if want := cliFile(t, "call-echo-S.txt"); got+"\n" != want {
		t.Errorf("-S: got %s want %s", got, want)
	}
	// ubus listen prints { "<event>": <compact json> }.
	m = find(t, readCapture(t, "cli-listen"), "d>c", "invoke", 0)
	d, _ = m.Raw(AttrData)
	ev, _ := m.String(AttrMethod)
	got, _ = FormatJSON(d, false)
	var f jsonFormatter
	f.str([]byte(ev))
	if line := "{ " + string(f.out) + ": " + got + " }\n"; line != cliFile(t, "listen-demo.txt") {
		t.Errorf("listen: got %q", line)
	}
}

// The requests this package builds are byte-identical to what libubus
// built for the same request.
func TestRequestsMatchLibubus(t *testing.T) {
	// ubus call nuvol echo '<json>': EncodeJSON equals libblobmsg_json.
	caps := readCapture(t, "cli-call-echo")
	inv := find(t, caps, "c>d", "invoke", 0)
	args, err := EncodeJSON([]byte(cliFile(t, "call-echo.json")))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := inv.Uint32(AttrObjID)
	got := NewMessage(MsgInvoke, inv.Seq, id).Build(invokeBody(id, "echo", args))
	if want := inv.AppendBinary(nil); !bytes.Equal(got, want) {
		t.Errorf("invoke echo:\n got %x\nwant %x", got, want)
	}
	lk := find(t, caps, "c>d", "lookup", 0)
	if got := NewMessage(MsgLookup, 1, 0).Build(lookupBody("nuvol")); !bytes.Equal(got, lk.AppendBinary(nil)) {
		t.Errorf("lookup:\n got %x\nwant %x", got, lk.AppendBinary(nil))
	}

	// ubus send: the data table in JSON order.
	caps = readCapture(t, "cli-send")
	snd := find(t, caps, "c>d", "invoke", 0)
	b, err := sendBody("demo.event", json.RawMessage(`{"k":"v","n":42,"neg":-2147483648,"big":2147483648,"f":1e2,"ok":false,"nil":null}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := NewMessage(MsgInvoke, snd.Seq, ObjEvent).Build(b); !bytes.Equal(got, snd.AppendBinary(nil)) {
		t.Errorf("send:\n got %x\nwant %x", got, snd.AppendBinary(nil))
	}

	// ubus listen: anonymous add, then register.
	caps = readCapture(t, "cli-listen")
	add := find(t, caps, "c>d", "add_object", 0)
	if got := NewMessage(MsgAddObject, add.Seq, 0).Build(&Builder{}); !bytes.Equal(got, add.AppendBinary(nil)) {
		t.Errorf("anonymous add: %x", got)
	}
	lid, _ := find(t, caps, "d>c", "data", 0).Uint32(AttrObjID)
	reg := find(t, caps, "c>d", "invoke", 0)
	if got := NewMessage(MsgInvoke, reg.Seq, ObjEvent).Build(registerBody(lid, "demo.*")); !bytes.Equal(got, reg.AppendBinary(nil)) {
		t.Errorf("register:\n got %x\nwant %x", got, reg.AppendBinary(nil))
	}

	// The C example server's ADD_OBJECT: same signature layout as ours.
	caps = readCapture(t, "c-server")
	cadd := find(t, caps, "c>d", "add_object", 0)
	r, err := newRegistered(&Object{Name: "test", Methods: []Method{
		{Name: "hello", Policy: []Arg{{"id", TypeInt32}, {"msg", TypeString}}, Handler: nilHandler},
		{Name: "watch", Policy: []Arg{{"id", TypeInt32}, {"counter", TypeInt32}}, Handler: nilHandler},
		{Name: "count", Policy: []Arg{{"to", TypeInt32}, {"string", TypeString}}, Handler: nilHandler},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := NewMessage(MsgAddObject, cadd.Seq, 0).Build(r.addBody()); !bytes.Equal(got, cadd.AppendBinary(nil)) {
		t.Errorf("add object test:\n got %x\nwant %x", got, cadd.AppendBinary(nil))
	}
}

// The replies of the C provider and of this package have the same layout.
func TestRepliesMatchLibubus(t *testing.T) {
	caps := readCapture(t, "c-server")
	call := find(t, caps, "d>c", "invoke", 0) // test hello from ubus call
	data := find(t, caps, "c>d", "data", 0)
	status := find(t, caps, "c>d", "status", 0)
	objID, _ := call.Uint32(AttrObjID)
	d, _ := data.Raw(AttrData)
	var out []byte
	c := &Conn{nc: &recorder{out: &out}}
	c.reply(call, objID, StatusOK, d)
	want := append(data.AppendBinary(nil), status.AppendBinary(nil)...)
	if !bytes.Equal(out, want) {
		t.Errorf("reply:\n got %x\nwant %x", out, want)
	}
	// Method not found: a lone STATUS 3 with our object id.
	nf := find(t, caps, "d>c", "invoke", 1)
	out = nil
	c.reply(nf, objID, StatusMethodNotFound, nil)
	if want := find(t, caps, "c>d", "status", 1).AppendBinary(nil); !bytes.Equal(out, want) {
		t.Errorf("not found:\n got %x\nwant %x", out, want)
	}
}

func nilHandler(context.Context, map[string]any) (map[string]any, error) { return nil, nil }

// recorder is a net.Conn that keeps what is written to it.
type recorder struct {
	net.Conn
	out *[]byte
}

func (r *recorder) Write(b []byte) (int, error)      { *r.out = append(*r.out, b...); return len(b), nil }
func (r *recorder) SetWriteDeadline(time.Time) error { return nil }
