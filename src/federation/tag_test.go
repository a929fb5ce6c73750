package federation

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

// shell runs a pipeline with the real tools and returns its output.
func shell(t testing.TB, script string, stdin []byte) []byte {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v: %s", script, err, stderr.String())
	}
	return out
}

func needTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (make deps installs it): %v", tool, err)
		}
	}
}

var kanban = Service{Type: "kanban", Description: "Kanban_board", Host: "node7.guifi.local",
	Address: "10.139.40.85", Port: "8080", Device: "demo", Extra: "node_id=abc lang=en"}

func TestDecodeTag(t *testing.T) {
	needTools(t, "bzip2", "base64")
	cloudy := func(json string) string {
		return strings.TrimSpace(string(shell(t, "bzip2 | base64 -w 0", []byte(json))))
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name    string
		tag     string
		want    []Service
		wantErr string
	}{
		{"empty", "", nil, ""},
		{"cloudy", cloudy(`[{"s":"kanban","d":"Kanban_board","m":"node7.guifi.local","i":"10.139.40.85","p":"8080","e":"demo","t":"node_id=abc lang=en"}]`),
			[]Service{kanban}, ""},
		{"single quotes", cloudy(`[{'s':'kanban','d':'Kanban_board','m':'node7.guifi.local','i':'10.139.40.85','p':'8080','e':'demo','t':'node_id=abc lang=en'}]`),
			[]Service{kanban}, ""},
		{"apostrophe in valid JSON", cloudy(`[{"s":"web","d":"Joan's_page","p":"80"}]`),
			[]Service{{Type: "web", Description: "Joan's_page", Port: "80"}}, ""},
		{"numeric port, missing keys, extra key", cloudy(`[{"s":"web","p":80,"x":"y","d":null}]`),
			[]Service{{Type: "web", Port: "80"}}, ""},
		{"two", cloudy(`[{"s":"a","p":"1"},{"s":"b","p":"2"}]`), []Service{{Type: "a", Port: "1"}, {Type: "b", Port: "2"}}, ""},
		{"empty array", cloudy(`[]`), []Service{}, ""},
		{"html and control characters kept", cloudy(`[{"s":"<b>x</b>","d":"<script>alert(1)</script>","t":"a\u0007b\nc"}]`),
			[]Service{{Type: "<b>x</b>", Description: "<script>alert(1)</script>", Extra: "a\ab\nc"}}, ""},
		{"newline wrapped base64", func() string { s := cloudy(`[{"s":"a"}]`); return s[:10] + "\n" + s[10:] }(),
			[]Service{{Type: "a"}}, ""},
		{"not base64", "!!!not base64!!!", nil, "not base64"},
		{"not bzip2", b64("hello, world"), nil, "not bzip2"},
		{"not JSON", cloudy("hello"), nil, "not a JSON array"},
		{"JSON object, not array", cloudy(`{"s":"a"}`), nil, "not a JSON array"},
		{"array of strings", cloudy(`["a"]`), nil, "not a JSON array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeTag(tt.tag)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("DecodeTag: err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeTag: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("DecodeTag:\n got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

// A bzip2 bomb: 8 MiB of zeros is a few dozen bytes compressed.
func TestDecodeTagBomb(t *testing.T) {
	needTools(t, "bzip2", "base64")
	tag := strings.TrimSpace(string(shell(t, "head -c 8388608 /dev/zero | bzip2 | base64 -w 0", nil)))
	if len(tag) > MaxTagBytes {
		t.Fatalf("bomb tag is %d bytes; the test wants one that fits serf's tags", len(tag))
	}
	_, err := DecodeTag(tag)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("DecodeTag(bomb): %v, want ErrTooLarge", err)
	}
}

// What EncodeTag writes, the real tools read back as Cloudy's JSON.
func TestEncodeTagCloudyReads(t *testing.T) {
	needTools(t, "bzip2", "base64")
	tag, n, err := EncodeTag([]Service{kanban, {Type: "web", Description: "<i>x</i>", Port: "80"}})
	if err != nil || n != 2 {
		t.Fatalf("EncodeTag: %d, %v", n, err)
	}
	got := string(shell(t, "base64 -d | bunzip2", []byte(tag)))
	want := `[{"s":"kanban","d":"Kanban_board","m":"node7.guifi.local","i":"10.139.40.85","p":"8080","e":"demo","t":"node_id=abc lang=en"},` +
		`{"s":"web","d":"<i>x</i>","m":"","i":"","p":"80","e":"","t":""}]`
	if got != want {
		t.Fatalf("bunzip2 gives\n%s\nwant\n%s", got, want)
	}
	if !strings.HasPrefix(string(shell(t, "base64 -d | head -c 4", []byte(tag))), "BZh1") {
		t.Fatalf("not a 100k-block bzip2 stream")
	}
}

func TestEncodeTagFits(t *testing.T) {
	var svcs []Service
	for i := 0; i < 20; i++ {
		svcs = append(svcs, Service{Type: fmt.Sprintf("app%02d", i), Description: fmt.Sprintf("Application_number_%d_of_the_node", i),
			Host: "router.guifi.local", Address: "10.139.40.85", Port: fmt.Sprint(8000 + i), Device: "demo", Extra: fmt.Sprintf("app=app%02d", i)})
	}
	tag, n, err := EncodeTag(svcs)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 || n == len(svcs) {
		t.Fatalf("fitted %d of %d; want some but not all", n, len(svcs))
	}
	if size := TagsSize(map[string]string{TagName: tag}); size > MaxTagBytes {
		t.Fatalf("tag is %d bytes as serf encodes it", size)
	}
	got, err := DecodeTag(tag)
	if err != nil || !reflect.DeepEqual(got, svcs[:n]) {
		t.Fatalf("round trip: %v %v", got, err)
	}
	// One more service must not fit.
	more, _ := encodeList(svcs[:n+1])
	if TagsSize(map[string]string{TagName: more}) <= MaxTagBytes {
		t.Fatalf("%d services would still fit", n+1)
	}
}

// TagsSize must agree with serf itself: SetTags refuses exactly above 512.
func TestTagsSizeMatchesSerf(t *testing.T) {
	a := startAgent(t, "sizer", nil)
	for _, n := range []int{400, 490, 495, 500, 505, 510} {
		tags := map[string]string{MarkerTag: "1 0 x", TagName: strings.Repeat("x", n)}
		size := TagsSize(tags)
		err := a.serf.SetTags(tags)
		if (size <= MaxTagBytes) != (err == nil) {
			t.Fatalf("value %d bytes: TagsSize %d, serf SetTags: %v", n, size, err)
		}
	}
}

func FuzzDecodeTag(f *testing.F) {
	for _, s := range [][]Service{nil, {kanban}, {{Type: "<x>", Description: "\x00\x07"}}} {
		tag, _, err := EncodeTag(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tag)
	}
	f.Add("QlpoOTFBWSZTWQ==")
	f.Add("not base64")
	f.Add(base64.StdEncoding.EncodeToString([]byte(`[{'s':'x'}]`)))
	f.Fuzz(func(t *testing.T, tag string) {
		svcs, err := DecodeTag(tag)
		if err != nil {
			return
		}
		if len(svcs) > maxServicesPerNode {
			t.Fatalf("%d services", len(svcs))
		}
		// What decodes encodes again, and decodes to the same list.
		again, n, err := EncodeTag(svcs)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeTag(again)
		if err != nil || len(back) != n {
			t.Fatalf("re-decode: %d services, want %d: %v", len(back), n, err)
		}
		if n > 0 && !reflect.DeepEqual(back, svcs[:n]) {
			t.Fatalf("round trip changed the list")
		}
	})
}

func TestPaginate(t *testing.T) {
	var svcs []Service
	for i := 0; i < 30; i++ {
		svcs = append(svcs, Service{Type: fmt.Sprintf("t%d", i), Description: strings.Repeat("d", 50), Port: fmt.Sprint(i)})
	}
	huge := Service{Type: "huge", Description: strings.Repeat("h", 2000)}
	pages, list, tooBig := paginate(append(svcs, huge), 700)
	if len(tooBig) != 1 || tooBig[0].Type != "huge" || len(list) != 30 {
		t.Fatalf("tooBig %v, list %d", tooBig, len(list))
	}
	var got []Service
	for i, b := range pages {
		if len(b) > 700 {
			t.Fatalf("page %d is %d bytes", i, len(b))
		}
		p, err := parsePage(b)
		if err != nil || p.Index != i || p.Pages != len(pages) || p.Hash != listHash(list) {
			t.Fatalf("page %d: %+v %v", i, p, err)
		}
		for _, w := range p.Items {
			got = append(got, fromWire(w))
		}
	}
	if !reflect.DeepEqual(got, svcs) {
		t.Fatalf("pages hold %d services, want %d", len(got), len(svcs))
	}
	if pages, _, _ := paginate(nil, 700); len(pages) != 1 {
		t.Fatalf("empty list: %d pages, want 1", len(pages))
	}
}

func FuzzParsePage(f *testing.F) {
	pages, _, _ := paginate([]Service{kanban}, 900)
	f.Add(pages[0])
	f.Add([]byte(`{"h":"x","n":100000,"i":-1,"s":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parsePage(b)
		if err == nil && (p.Pages > maxPages || p.Index >= p.Pages || len(p.Items) > maxServicesPerNode) {
			t.Fatalf("accepted %+v", p)
		}
	})
}

func TestParseMarker(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{{"1 3 abc", true}, {"1 0 x", true}, {"2 3 abc", false}, {"1 -1 x", false}, {"1 99999 x", false}, {"", false}, {"1 3", false}} {
		if _, ok := parseMarker(tt.in); ok != tt.ok {
			t.Errorf("parseMarker(%q) ok=%v, want %v", tt.in, ok, tt.ok)
		}
	}
}
