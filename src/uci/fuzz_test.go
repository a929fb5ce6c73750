package uci

import (
	"bytes"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// roundTrips reports whether a section type survives export: libuci writes
// the type unquoted, so a type holding a quote, #, ; or \ reads back as
// something else (in uci as well).
func roundTrips(f *File) bool {
	for _, s := range f.Sections {
		if strings.ContainsAny(s.Type, "'\"#;\\") {
			return false
		}
	}
	return true
}

func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/parse/*.in")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"", "config", "config a", "config a b\n\toption c 'd'\n", "c a;o b c",
		"config a\n\toption b 'x\\\n", "config a\n\toption b \"x\\\r\n", "config a\n\toption b x\\\r\n",
		"config a b\n\tlist c ''\n\tlist c\n", "config a b;'x'\\\n", "# c\n\tconfig a # b\n# d",
		"config a b\n\toption c 'v';#x\n", "package p\nconfig a\n", "\xff\xfe", "#\xf0", "#\r0", "#a\r\r\n", "config a b\n\toption c '\x00'\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("fuzz", bytes.NewReader(data))
		if err != nil {
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		_ = file.Show(false)
		out := file.FileBytes()
		again, err := Parse("fuzz", bytes.NewReader(out))
		if !roundTrips(file) {
			return
		}
		if err != nil {
			t.Fatalf("our own output does not parse: %v\n%q", err, out)
		}
		if !bytes.Equal(again.Bytes(), file.Bytes()) {
			t.Fatalf("export changed after a round trip:\n%q\n%q", file.Bytes(), again.Bytes())
		}
		if !equalFiles(again, file) {
			t.Fatalf("file changed after a round trip:\n%q\n%q", out, again.FileBytes())
		}
	})
}

// equalFiles compares two files field by field, treating nil and empty
// slices alike.
func equalFiles(a, b *File) bool {
	return reflect.DeepEqual(normalize(a), normalize(b))
}

func normalize(f *File) *File {
	n := &File{Package: f.Package, created: f.created, Comments: nilIfEmpty(f.Comments)}
	for _, s := range f.Sections {
		t := &Section{Type: s.Type, Name: s.Name, Anonymous: s.Anonymous, Comments: nilIfEmpty(s.Comments), Trailing: s.Trailing}
		for _, o := range s.Options {
			if len(o.Values) == 0 {
				continue // an emptied list is not written
			}
			p := &Option{Name: o.Name, Values: o.Values, IsList: o.IsList, Comments: nilIfEmpty(o.Comments)}
			tr := o.Trailing
			for len(tr) > 0 && tr[len(tr)-1] == "" {
				tr = tr[:len(tr)-1]
			}
			p.Trailing = nilIfEmpty(tr)
			t.Options = append(t.Options, p)
		}
		n.Sections = append(n.Sections, t)
	}
	return n
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// TestRoundTrip is the property parse(format(t)) == t over random files
// built through the API: any value bytes but NUL, empty list items,
// anonymous and named sections, comments everywhere.
func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 500; i++ {
		f := randomFile(r)
		text := f.FileBytes()
		g, err := Parse(f.Package, bytes.NewReader(text))
		if err != nil {
			t.Fatalf("case %d: %v\n%q", i, err, text)
		}
		if !equalFiles(f, g) {
			t.Fatalf("case %d: round trip changed the file\nin:  %#v\ntext: %q\nout: %q", i, f, text, g.FileBytes())
		}
	}
}

func randomFile(r *rand.Rand) *File {
	f := &File{Package: "nuvol"}
	pick := func(s string) byte { return s[r.Intn(len(s))] }
	const nameChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
	const typeChars = nameChars + "!$%&()*+,-./:<=>?@[]^`{|}~"
	word := func(chars string, n int) string {
		b := make([]byte, 1+r.Intn(n))
		for i := range b {
			b[i] = pick(chars)
		}
		return string(b)
	}
	value := func() string {
		b := make([]byte, r.Intn(12))
		for i := range b {
			switch r.Intn(4) {
			case 0:
				b[i] = pick("'\"\\#;\n\r\t $ \v\f")
			case 1:
				b[i] = byte(1 + r.Intn(255))
			default:
				b[i] = pick(nameChars)
			}
		}
		return string(b)
	}
	comment := func() string {
		c := "#" + strings.Map(func(r rune) rune {
			if r == '\n' || r == '\r' || r == 0 {
				return -1
			}
			return r
		}, value())
		return c
	}
	comments := func() []string {
		var cs []string
		for n := r.Intn(3) - 1; n > 0; n-- {
			cs = append(cs, comment())
		}
		return cs
	}
	for n := r.Intn(6); n > 0; n-- {
		name := ""
		if r.Intn(2) == 0 {
			name = word(nameChars, 8)
			if f.lookup(name) != nil {
				name = ""
			}
		}
		s, err := f.AddSection(word(typeChars, 6), name)
		if err != nil {
			panic(err)
		}
		s.Comments = comments()
		if r.Intn(3) == 0 {
			s.Trailing = comment()
		}
		for m := r.Intn(5); m > 0; m-- {
			o := &Option{Name: word(nameChars, 6), Comments: comments()}
			if s.Option(o.Name) != nil {
				continue
			}
			if r.Intn(2) == 0 {
				o.IsList = true
				for k := 1 + r.Intn(3); k > 0; k-- {
					o.Values = append(o.Values, value())
				}
			} else {
				v := value()
				if v == "" {
					v = "x"
				}
				o.Values = []string{v}
			}
			for k := range o.Values {
				if r.Intn(3) == 0 {
					for len(o.Trailing) < k {
						o.Trailing = append(o.Trailing, "")
					}
					o.Trailing = append(o.Trailing, comment())
				}
			}
			s.Options = append(s.Options, o)
		}
	}
	f.Comments = comments()
	return f
}
