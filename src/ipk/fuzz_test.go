package ipk

import (
	"bytes"
	"testing"
)

// FuzzRead feeds Read arbitrary bytes, seeded with a real package and broken
// variants of it. Read must return an error or an archive, never panic.
func FuzzRead(f *testing.F) {
	raw, err := samplePackage().Build(epoch)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add(raw[:len(raw)/2])
	f.Add([]byte{})
	f.Add([]byte("!<arch>\ndebian-binary   "))
	f.Add(gzipMust(f, []byte("not a tar")))
	data, _ := tarBytes([]entry{{name: "./control.tar.gz", mode: 0o644, typ: typeReg, data: []byte("x")}}, 0)
	f.Add(gzipMust(f, data))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Read(bytes.NewReader(b))
		if err == nil && (a == nil || len(a.Control) == 0) {
			t.Fatalf("no error and no control fields")
		}
	})
}

// FuzzParseControl checks that ParseControl never panics and that what it
// accepts has named fields.
func FuzzParseControl(f *testing.F) {
	for _, s := range []string{
		samplePackage().Control.Text(10240),
		"Package: x\n",
		" continuation first\n",
		"Package x\n",
		"Description:\n \n more\n",
		"\n\n",
		"A:\tb\n\tc",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fields, err := ParseControl(s)
		if err != nil {
			return
		}
		for _, fl := range fields {
			if fl.Name == "" {
				t.Fatalf("empty field name from %q", s)
			}
		}
	})
}

func gzipMust(f *testing.F, b []byte) []byte {
	out, err := gzipBytes(b)
	if err != nil {
		f.Fatal(err)
	}
	return out
}
