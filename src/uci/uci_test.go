package uci

import (
	"errors"
	"strings"
	"testing"
)

func mustParse(t testing.TB, name, text string) *File {
	t.Helper()
	f, err := Parse(name, strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestErrorMessages(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"config nuvol main\n\toption a 'x\n\n\n", "nuvol:2: unterminated quote"},
		{"config nuvol main\n\toption a \"x\\\"\n", "nuvol:2: unterminated quote"},
		{"config nuvol main\n\toption a x y\n", `nuvol:2: too many arguments ("y")`},
		{"config nuvol main\n\toption a x y", `nuvol:2: too many arguments ("y")`},
		{"\n\nconfig app we-b\n", `nuvol:3: invalid name "we-b" (only letters, digits and _)`},
		{"option a 1\n", "nuvol:1: option or list before the first config section"},
		{"config app web\nconfig nuvol web\n", `nuvol:2: section "web" declared again with another type`},
		{"config app web\nopton x 1\n", `nuvol:2: invalid command "opton"`},
		{"config\n", `nuvol:1: invalid command "config\n"`},
		{"config a\n\x00\n", "nuvol:2: NUL byte"},
		{"config 'a b'\n", `nuvol:1: invalid section type "a b"`},
		{"config ''\n", "nuvol:1: insufficient arguments"},
	} {
		_, err := Parse("nuvol", strings.NewReader(tc.in))
		if err == nil || err.Error() != tc.want {
			t.Errorf("Parse(%q) = %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestExtendedAddressing(t *testing.T) {
	// sys(anon) sys'named' interface zone sys(anon), as in the reference.
	f := mustParse(t, "an", "config sys\nconfig sys named\nconfig interface\nconfig zone\nconfig sys\n")
	last := f.Sections[4]
	for _, tc := range []struct {
		ref  string
		want *Section
	}{
		{"@sys[0]", f.Sections[0]},
		{"@sys[1]", f.Sections[1]},
		{"named", f.Sections[1]},
		{"@sys[-1]", last},
		{"@sys[2]", last},
		{"@sys[+2]", last},
		{"@sys[-3]", f.Sections[0]},
		{"@sys[-4]", nil},
		{"@sys[3]", nil},
		{"@[-1]", last},
		{"@[2]", f.Sections[2]},
		{"@sys[]", f.Sections[0]},
		{"@zone[0]", f.Sections[3]},
		{"@sys", nil},
		{"@sys[x]", nil},
		{"@sys[1]x", nil},
		{"@sys[1", nil},
		{"cfg05ac24", last},
		{"cfg01ac24", f.Sections[0]},
		{"", nil},
	} {
		if got := f.Section(tc.ref); got != tc.want {
			t.Errorf("Section(%q) = %v, want %v", tc.ref, got, tc.want)
		}
	}
	if got := f.Ref(last); got != "@sys[2]" {
		t.Errorf("Ref = %q", got)
	}
	if got := f.Ref(f.Sections[1]); got != "named" {
		t.Errorf("Ref = %q", got)
	}
	if n := len(f.SectionsByType("sys")); n != 3 {
		t.Errorf("SectionsByType(sys) = %d sections", n)
	}
}

func TestAnonNames(t *testing.T) {
	for _, tc := range []struct {
		n    int
		typ  string
		want string
	}{
		{1, "interface", "cfg016d96"}, {2, "rule", "cfg0292bd"}, {3, "system", "cfg03e48a"},
		{4, "zone", "cfg04dc81"}, {3, "foo", "cfg037389"}, {1, "sys", "cfg01ac24"},
		{255, "rule", "cfgff92bd"}, {256, "rule", "cfg10092bd"},
	} {
		if got := anonName(tc.n, tc.typ); got != tc.want {
			t.Errorf("anonName(%d, %q) = %q, want %q", tc.n, tc.typ, got, tc.want)
		}
	}
	// Deleting never lowers the counter, as in libuci.
	f := mustParse(t, "n", "config a x\nconfig b y\n")
	s, _ := f.AddSection("foo", "")
	if s.Name != "cfg037389" {
		t.Errorf("add = %s", s.Name)
	}
	f.DeleteSection(s.Name)
	s, _ = f.AddSection("foo", "")
	if s.Name != "cfg047389" {
		t.Errorf("add after delete = %s", s.Name)
	}
}

func TestParseBool(t *testing.T) {
	for _, s := range []string{"1", "on", "true", "yes", "enabled"} {
		if b, err := ParseBool(s); !b || err != nil {
			t.Errorf("ParseBool(%q) = %v, %v", s, b, err)
		}
	}
	for _, s := range []string{"0", "off", "false", "no", "disabled"} {
		if b, err := ParseBool(s); b || err != nil {
			t.Errorf("ParseBool(%q) = %v, %v", s, b, err)
		}
	}
	for _, s := range []string{"", "Yes", "TRUE", "ON", " 1", "2", "y"} {
		if _, err := ParseBool(s); err == nil {
			t.Errorf("ParseBool(%q) accepted", s)
		}
	}
}

func TestTypedGetters(t *testing.T) {
	f := mustParse(t, "nuvol", "config app web\n\toption enabled yes\n\toption port 80a\n\toption memory 64\n\tlist join a\n\tlist join b\n\toption bad maybe\n")
	if b, err := f.Bool("web", "enabled", false); !b || err != nil {
		t.Errorf("Bool = %v, %v", b, err)
	}
	if b, err := f.Bool("web", "missing", true); !b || err != nil {
		t.Errorf("Bool default = %v, %v", b, err)
	}
	if _, err := f.Bool("web", "bad", false); err == nil || !strings.Contains(err.Error(), `nuvol.web.bad: "maybe" is not a boolean`) {
		t.Errorf("Bool(bad) error = %v", err)
	}
	if n, err := f.Int("web", "memory", 0); n != 64 || err != nil {
		t.Errorf("Int = %v, %v", n, err)
	}
	if _, err := f.Int("web", "port", 0); err == nil || err.Error() != `nuvol.web.port: "80a" is not an integer` {
		t.Errorf("Int(port) error = %v", err)
	}
	if n, err := f.Int("@app[0]", "nope", 7); n != 7 || err != nil {
		t.Errorf("Int default = %v, %v", n, err)
	}
	if got := f.GetList("web", "join"); strings.Join(got, ",") != "a,b" {
		t.Errorf("GetList = %q", got)
	}
	if got := f.GetList("web", "memory"); len(got) != 1 || got[0] != "64" {
		t.Errorf("GetList(string option) = %q", got)
	}
	if v, ok := f.Get("web", "join"); !ok || v != "a b" {
		t.Errorf("Get(list) = %q, %v", v, ok)
	}
	if _, ok := f.Get("nope", "x"); ok {
		t.Error("Get on a missing section")
	}
}

func TestEditAPI(t *testing.T) {
	f := mustParse(t, "nuvol", "config nuvol main\n\toption enabled 1\n\tlist join a\n")
	check := func(want string) {
		t.Helper()
		if got := string(f.FileBytes()); got != want {
			t.Errorf("got\n%s\nwant\n%s", got, want)
		}
	}
	if err := f.Set("main", "enabled", "0"); err != nil {
		t.Fatal(err)
	}
	if err := f.Set("main", "join", "x"); err != nil { // a list becomes a string, in place
		t.Fatal(err)
	}
	if err := f.AddList("main", "join", "y"); err != nil { // and a string a list
		t.Fatal(err)
	}
	check("\nconfig nuvol 'main'\n\toption enabled '0'\n\tlist join 'x'\n\tlist join 'y'\n\n")
	if err := f.Set("main", "enabled", ""); err != nil { // empty deletes, as uci set does
		t.Fatal(err)
	}
	if _, err := f.AddSection("app", "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.AddSection("app", "web"); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate AddSection: %v", err)
	}
	for _, bad := range [][2]string{{"app", "we-b"}, {"a b", ""}, {"", "x"}} {
		if _, err := f.AddSection(bad[0], bad[1]); !errors.Is(err, ErrInvalid) {
			t.Errorf("AddSection(%q, %q) = %v", bad[0], bad[1], err)
		}
	}
	if err := f.Set("web", "port", "8080"); err != nil {
		t.Fatal(err)
	}
	if err := f.Set("nope", "port", "1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Set on missing section: %v", err)
	}
	if err := f.Set("web", "bad-name", "1"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Set with bad name: %v", err)
	}
	if err := f.Set("web", "x", "a\x01b"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Set with control byte: %v", err)
	}
	if err := f.Set("web", "desc", "it's\ttwo\nlines"); err != nil {
		t.Fatal(err)
	}
	check("\nconfig nuvol 'main'\n\tlist join 'x'\n\tlist join 'y'\n\nconfig app 'web'\n\toption port '8080'\n\toption desc 'it'\\''s\ttwo\nlines'\n\n")
	if !f.DelList("main", "join", "x") || f.DelList("main", "join", "zz") {
		t.Error("DelList")
	}
	if !f.Delete("web", "desc") || f.Delete("web", "desc") {
		t.Error("Delete")
	}
	if err := f.Rename("web", "main"); !errors.Is(err, ErrExists) {
		t.Errorf("Rename onto an existing name: %v", err)
	}
	if err := f.Rename("web", "site"); err != nil {
		t.Fatal(err)
	}
	if err := f.Reorder("site", -5); err != nil {
		t.Fatal(err)
	}
	check("\nconfig app 'site'\n\toption port '8080'\n\nconfig nuvol 'main'\n\tlist join 'y'\n\n")
	if err := f.Reorder("site", 99); err != nil {
		t.Fatal(err)
	}
	if f.Sections[1].Name != "site" {
		t.Error("Reorder to the end")
	}
	if !f.DeleteSection("site") || f.DeleteSection("site") {
		t.Error("DeleteSection")
	}
	if err := f.Set("other", "", "thing"); err != nil || f.Section("other").Type != "thing" {
		t.Errorf("Set type: %v", err)
	}
	if err := f.Set("other", "", "bad type"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Set bad type: %v", err)
	}
}

func TestCommentsKept(t *testing.T) {
	in := "# header\n\n# about main\nconfig nuvol 'main' # the node\n\t# on or off\n\toption enabled '1' # yes\n\tlist join 'a' # first\n\tlist join 'b'\n\tlist join 'c' # third\n\toption x '' # no-op keeps its note\n\toption y 'v'\n\n# trailer\n"
	f := mustParse(t, "nuvol", in)
	want := "\n# header\n# about main\nconfig nuvol 'main' # the node\n\t# on or off\n\toption enabled '1' # yes\n\tlist join 'a' # first\n\tlist join 'b'\n\tlist join 'c' # third\n\t# no-op keeps its note\n\toption y 'v'\n\n# trailer\n\n"
	if got := string(f.FileBytes()); got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	if got := string(f.Bytes()); strings.Contains(got, "#") {
		t.Errorf("export form has comments: %q", got)
	}
	// Comments survive an edit and a second round.
	f.Set("main", "enabled", "0")
	f.DelList("main", "join", "b")
	g := mustParse(t, "nuvol", string(f.FileBytes()))
	if got := g.Sections[0].Option("join").Trailing; len(got) != 2 || got[0] != "# first" || got[1] != "# third" {
		t.Errorf("list comments after DelList: %q", got)
	}
	if got := g.Sections[0].Option("enabled").Trailing; len(got) != 1 || got[0] != "# yes" {
		t.Errorf("comment after Set: %q", got)
	}
}

// libuci has no length limits: a 3000-byte name and a 100000-byte value
// both parse, and come back the same.
func TestLongLines(t *testing.T) {
	name := strings.Repeat("n", 3000)
	value := strings.Repeat("v'\\", 33334)
	f := &File{Package: "long"}
	s, _ := f.AddSection("sys", name)
	s.Options = append(s.Options, &Option{Name: name, Values: []string{value}})
	g := mustParse(t, "long", string(f.FileBytes()))
	if got, _ := g.Get(name, name); got != value {
		t.Errorf("value of %d bytes came back as %d bytes", len(value), len(got))
	}
}
