package uci

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The golden files under testdata/ were captured from the real `uci`
// (see testdata/README.md). These tests check that nuvol reads every
// input exactly as uci does: same export text, same `show` and `-X show`
// (which fixes the generated anonymous names), same parse errors down to
// libuci's line and byte numbers; and that the same edits give the same
// file as `uci ...; uci commit`.

func readGolden(t *testing.T, path string) (string, bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b), true
}

func TestGoldenParse(t *testing.T) {
	ins, err := filepath.Glob("testdata/parse/*.in")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range ins {
		base := strings.TrimSuffix(in, ".in")
		pkg := filepath.Base(base)
		t.Run(pkg, func(t *testing.T) {
			data, _ := readGolden(t, in)
			f, err := Parse(pkg, strings.NewReader(data))
			if wantErr, ok := readGolden(t, base+".err"); ok {
				pe, isPE := err.(*ParseError)
				if !isPE {
					t.Fatalf("got %v, want parse error %q", err, wantErr)
				}
				got := fmt.Sprintf("uci: Parse error (%s) at line %d, byte %d\n", pe.Reason, pe.UCILine, pe.UCIByte)
				if got != wantErr {
					t.Errorf("got  %q\nwant %q", got, wantErr)
				}
				if !strings.HasPrefix(pe.Error(), pkg+":") {
					t.Errorf("error %q does not name the file", pe.Error())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for ext, got := range map[string][]byte{".export": f.Bytes(), ".show": f.Show(false), ".xshow": f.Show(true)} {
				want, _ := readGolden(t, base+ext)
				if string(got) != want {
					t.Errorf("%s:\ngot  %q\nwant %q", ext, got, want)
				}
			}
			switch pkg {
			case "nuvol_written":
				// This input is nuvol's own output, comments and all.
				if got := string(f.FileBytes()); got != data {
					t.Errorf("nuvol no longer writes this file:\ngot  %q\nwant %q", got, data)
				}
			case "nuvol_default":
				shipped, err := os.ReadFile("../../files/etc/config/nuvol")
				if err != nil || string(shipped) != data {
					t.Errorf("files/etc/config/nuvol changed: copy it here and capture its uci output again (%v)", err)
				}
			}
			// What nuvol writes back must mean the same to uci: its
			// export of our output equals its export of the input.
			g, err := Parse(pkg, bytes.NewReader(f.FileBytes()))
			if err != nil {
				t.Fatalf("re-parse of our output: %v", err)
			}
			if !bytes.Equal(g.Bytes(), f.Bytes()) {
				t.Errorf("re-parse changed the file:\n%q\n%q", g.Bytes(), f.Bytes())
			}
		})
	}
}

// runCommand applies one `uci` CLI command (as written in a .cmds file)
// to f through the edit API.
func runCommand(f *File, line string) error {
	verb, arg, _ := strings.Cut(line, " ")
	if verb == "add" {
		_, typ, _ := strings.Cut(arg, " ")
		_, err := f.AddSection(typ, "")
		return err
	}
	tuple, value, hasValue := strings.Cut(arg, "=")
	if strings.HasPrefix(value, `"`) {
		v, err := strconv.Unquote(value)
		if err != nil {
			return err
		}
		value = v
	}
	parts := strings.Split(tuple, ".")
	if len(parts) < 2 || parts[0] != f.Package {
		return fmt.Errorf("bad tuple %q", tuple)
	}
	sec, opt := parts[1], ""
	if len(parts) == 3 {
		opt = parts[2]
	}
	switch verb {
	case "set":
		return f.Set(sec, opt, value)
	case "add_list":
		return f.AddList(sec, opt, value)
	case "del_list":
		f.DelList(sec, opt, value)
	case "delete":
		if opt == "" {
			f.DeleteSection(sec)
		} else {
			f.Delete(sec, opt)
		}
	case "rename":
		if opt != "" {
			return fmt.Errorf("option rename not supported")
		}
		return f.Rename(sec, value)
	case "reorder":
		n, err := strconv.Atoi(value)
		if err != nil {
			return err
		}
		return f.Reorder(sec, n)
	default:
		return fmt.Errorf("unknown command %q (value %v)", verb, hasValue)
	}
	return nil
}

func TestGoldenEdit(t *testing.T) {
	cmds, err := filepath.Glob("testdata/edit/*.cmds")
	if err != nil || len(cmds) == 0 {
		t.Fatalf("no golden edits: %v", err)
	}
	for _, cf := range cmds {
		base := strings.TrimSuffix(cf, ".cmds")
		pkg := filepath.Base(base)
		t.Run(pkg, func(t *testing.T) {
			in, _ := readGolden(t, base+".in")
			f, err := Parse(pkg, strings.NewReader(in))
			if err != nil {
				t.Fatal(err)
			}
			script, _ := readGolden(t, cf)
			sc := bufio.NewScanner(strings.NewReader(script))
			for sc.Scan() {
				line := sc.Text()
				if line == "" || line[0] == '#' {
					continue
				}
				if err := runCommand(f, line); err != nil {
					t.Fatalf("%s: %v", line, err)
				}
			}
			want, _ := readGolden(t, base+".xshow")
			if got := f.Show(true); string(got) != want {
				t.Errorf("-X show before commit:\ngot  %q\nwant %q", got, want)
			}
			want, _ = readGolden(t, base+".show")
			if got := f.Show(false); string(got) != want {
				t.Errorf("show before commit:\ngot  %q\nwant %q", got, want)
			}
			want, _ = readGolden(t, base+".out")
			// uci commit drops comments, nuvol keeps them: compare
			// without.
			if got := withoutComments(f).FileBytes(); string(got) != want {
				t.Errorf("committed file:\ngot  %q\nwant %q", got, want)
			}
			// Reading the file uci committed gives uci's names.
			g, err := Parse(pkg, strings.NewReader(want))
			if err != nil {
				t.Fatal(err)
			}
			want, _ = readGolden(t, base+".outxshow")
			if got := g.Show(true); string(got) != want {
				t.Errorf("-X show after commit:\ngot  %q\nwant %q", got, want)
			}
		})
	}
}

func withoutComments(f *File) *File {
	g := *f
	g.Comments = nil
	g.Sections = nil
	for _, s := range f.Sections {
		t := *s
		t.Comments, t.Trailing, t.Options = nil, "", nil
		for _, o := range s.Options {
			p := *o
			p.Comments, p.Trailing = nil, nil
			t.Options = append(t.Options, &p)
		}
		g.Sections = append(g.Sections, &t)
	}
	return &g
}
