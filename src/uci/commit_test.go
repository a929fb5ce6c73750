package uci

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestLoadMissing(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "nuvol")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Load(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("directory: %v", err)
	}
}

func TestLoadNamesPackageAfterFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nuvol")
	os.WriteFile(path, []byte("config nuvol main\n\toption x 'y\n"), 0o644)
	_, err := Load(path)
	if err == nil || err.Error() != "nuvol:2: unterminated quote" {
		t.Errorf("got %v", err)
	}
}

func TestCommitKeepsModeAndSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	os.Mkdir(real, 0o755)
	target := filepath.Join(real, "nuvol")
	if err := os.WriteFile(target, []byte("config nuvol main\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	os.Chmod(target, 0o640)
	link := filepath.Join(dir, "nuvol")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	f, err := Load(link)
	if err != nil {
		t.Fatal(err)
	}
	f.Set("main", "enabled", "1")
	if err := Commit(link, f); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("symlink replaced: %v %v", fi.Mode(), err)
	}
	fi, err := os.Stat(target)
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, %v; want 0640", fi.Mode(), err)
	}
	b, _ := os.ReadFile(target)
	if string(b) != "\nconfig nuvol 'main'\n\toption enabled '1'\n\n" {
		t.Errorf("content %q", b)
	}
	for _, d := range []string{dir, real} {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if e.Name()[0] == '.' {
				t.Errorf("temporary file left: %s", e.Name())
			}
		}
	}
}

func TestCommitCreates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fresh")
	f := &File{Package: "fresh"}
	f.AddSection("app", "web")
	if err := Commit(path, f); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("new file mode %v, %v; want 0600 as libuci", fi.Mode(), err)
	}
}

func TestUpdate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nuvol")
	os.WriteFile(path, []byte("# keep me\nconfig nuvol main\n\toption n 0\n"), 0o644)
	var wg sync.WaitGroup
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				err := Update(path, func(f *File) error {
					n, err := f.Int("main", "n", 0)
					if err != nil {
						return err
					}
					return f.Set("main", "n", strconv.Itoa(n+1))
				})
				if err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := f.Int("main", "n", 0); n != 60 {
		t.Errorf("n = %d after 60 locked increments", n)
	}
	if len(f.Sections[0].Comments) != 1 {
		t.Errorf("comment lost: %q", f.FileBytes())
	}
	before, _ := os.ReadFile(path)
	boom := errors.New("boom")
	if err := Update(path, func(f *File) error { f.DeleteSection("main"); return boom }); err != boom {
		t.Errorf("Update returned %v", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("a failed Update wrote the file")
	}
}

// bigFile is version gen of the file the killed writer commits: every
// section carries gen, and the last section marks the end, so a reader
// can tell a whole file from a torn one.
func bigFile(gen int) *File {
	f := &File{Package: "nuvol"}
	for i := 0; i < 300; i++ {
		s, _ := f.AddSection("app", fmt.Sprintf("app%d", i))
		s.Set("gen", strconv.Itoa(gen))
		s.Set("description", "some text to make the file long enough to take a while to write")
	}
	s, _ := f.AddSection("end", "end")
	s.Set("gen", strconv.Itoa(gen))
	return f
}

func checkWhole(f *File) error {
	if len(f.Sections) != 301 || f.Sections[300].Name != "end" {
		return fmt.Errorf("%d sections", len(f.Sections))
	}
	gen := ""
	for _, s := range f.Sections {
		g, _ := s.Get("gen")
		if gen == "" {
			gen = g
		}
		if g != gen {
			return fmt.Errorf("mixed generations %s and %s", gen, g)
		}
	}
	return nil
}

// TestHelperWriter is not a test: TestKilledWriter runs the test binary
// with it as a child process that commits in a loop until it is killed.
func TestHelperWriter(t *testing.T) {
	path := os.Getenv("NUVOL_UCI_WRITER")
	if path == "" {
		t.Skip("helper process")
	}
	for i := 0; ; i++ {
		if err := Update(path, func(f *File) error {
			gen, _ := f.Int("end", "gen", 0)
			*f = *bigFile(gen + 1)
			return nil
		}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		if i == 0 {
			fmt.Println("committed") // the parent may kill from now on
		}
	}
}

// TestKilledWriter kills a committing writer with SIGKILL at random
// moments while a reader keeps loading the file: the reader must always
// see one whole version, never a torn or empty file.
func TestKilledWriter(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "nuvol")
	if err := Commit(path, bigFile(0)); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var reads atomic.Int64
	var torn atomic.Value
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			f, err := Load(path)
			if err == nil {
				err = checkWhole(f)
			}
			if err != nil {
				torn.Store(err.Error())
				return
			}
			reads.Add(1)
		}
	}()
	r := rand.New(rand.NewSource(time.Now().UnixNano()))
	for i := 0; i < 12 && torn.Load() == nil; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$")
		cmd.Env = append(os.Environ(), "NUVOL_UCI_WRITER="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait for a first commit, however slow the machine, so that
		// every kill lands among commits.
		line, _ := bufio.NewReader(out).ReadString('\n')
		if line != "committed\n" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("writer said %q", line)
		}
		time.Sleep(time.Duration(20+r.Intn(60)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}
	stop.Store(true)
	<-done
	if v := torn.Load(); v != nil {
		t.Fatalf("reader saw a torn file: %s", v)
	}
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkWhole(f); err != nil {
		t.Fatal(err)
	}
	gen, _ := f.Get("end", "gen")
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".nuvol.uci-*"))
	t.Logf("%d whole reads; %s commits; %d writers killed mid-commit (temporary file left)", reads.Load(), gen, len(left))
	if gen == "0" {
		t.Error("no writer ever committed")
	}
}
