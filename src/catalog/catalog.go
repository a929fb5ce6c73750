package catalog

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

//go:embed apps/*.json
var embedded embed.FS

// Catalog is a set of manifests by id. The zero value is empty; it is not
// changed after Load returns, so it may be shared between goroutines.
type Catalog struct {
	apps   map[string]Manifest
	origin map[string]string // id -> where it came from ("embedded", a dir, a URL)
}

// MaxFeedSize bounds what a feed URL may return.
const MaxFeedSize = 4 << 20

// Default returns the catalog embedded in the binary.
func Default() (*Catalog, error) {
	c := &Catalog{apps: map[string]Manifest{}, origin: map[string]string{}}
	entries, err := embedded.ReadDir("apps")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		data, err := embedded.ReadFile("apps/" + e.Name())
		if err != nil {
			return nil, err
		}
		m, err := ParseManifest(data)
		if err != nil {
			return nil, fmt.Errorf("embedded %s: %w", e.Name(), err)
		}
		if _, dup := c.apps[m.ID]; dup {
			return nil, fmt.Errorf("embedded %s: duplicate id %q", e.Name(), m.ID)
		}
		c.add(m, "embedded")
	}
	return c, nil
}

func (c *Catalog) add(m Manifest, origin string) {
	c.apps[m.ID] = m
	c.origin[m.ID] = origin
}

// Load returns the embedded catalog plus the extra catalogs, in order: a
// directory of *.json manifests, a file holding one manifest or a JSON
// list of them, or an http(s) feed URL serving a JSON list. A later
// manifest replaces an earlier one with the same id, so a local catalog
// can pin another version of a default app.
//
// A broken extra catalog must not take the daemon's catalog down with it:
// Load always returns a usable catalog, and an error (errors.Join) naming
// every source or manifest it skipped.
func Load(dirsOrURLs []string) (*Catalog, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return LoadContext(ctx, dirsOrURLs, nil)
}

// LoadContext is Load with a context and an HTTP client (nil = default).
func LoadContext(ctx context.Context, dirsOrURLs []string, client *http.Client) (*Catalog, error) {
	c, err := Default()
	if err != nil {
		return nil, err
	}
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	var errs []error
	for _, src := range dirsOrURLs {
		if src == "" {
			continue
		}
		if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
			data, err := getFeed(ctx, client, src)
			if err != nil {
				errs = append(errs, fmt.Errorf("catalog %s: %w", src, err))
				continue
			}
			errs = append(errs, c.addData(src, data)...)
			continue
		}
		fi, err := os.Stat(src)
		if err != nil {
			errs = append(errs, fmt.Errorf("catalog %s: %w", src, err))
			continue
		}
		if !fi.IsDir() {
			data, err := os.ReadFile(src)
			if err != nil {
				errs = append(errs, fmt.Errorf("catalog %s: %w", src, err))
				continue
			}
			errs = append(errs, c.addData(src, data)...)
			continue
		}
		files, err := filepath.Glob(filepath.Join(src, "*.json"))
		if err != nil {
			errs = append(errs, fmt.Errorf("catalog %s: %w", src, err))
			continue
		}
		sort.Strings(files)
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				errs = append(errs, fmt.Errorf("catalog %s: %w", f, err))
				continue
			}
			errs = append(errs, c.addData(f, data)...)
		}
	}
	return c, errors.Join(errs...)
}

func getFeed(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxFeedSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFeedSize {
		return nil, fmt.Errorf("feed larger than %d bytes", MaxFeedSize)
	}
	return data, nil
}

// addData adds one manifest or a JSON list of manifests.
func (c *Catalog) addData(origin string, data []byte) []error {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var list []json.RawMessage
		if err := json.Unmarshal(trimmed, &list); err != nil {
			return []error{fmt.Errorf("catalog %s: %w: %v", origin, ErrInvalid, err)}
		}
		var errs []error
		for i, raw := range list {
			m, err := ParseManifest(raw)
			if err != nil {
				errs = append(errs, fmt.Errorf("catalog %s: entry %d: %w", origin, i, err))
				continue
			}
			c.add(m, origin)
		}
		return errs
	}
	m, err := ParseManifest(trimmed)
	if err != nil {
		return []error{fmt.Errorf("catalog %s: %w", origin, err)}
	}
	c.add(m, origin)
	return nil
}

// Get returns the manifest with an id.
func (c *Catalog) Get(id string) (Manifest, bool) {
	if c == nil {
		return Manifest{}, false
	}
	m, ok := c.apps[id]
	return m, ok
}

// Origin says where a manifest came from: "embedded", a path or a URL.
func (c *Catalog) Origin(id string) string {
	if c == nil {
		return ""
	}
	return c.origin[id]
}

// All returns every manifest, sorted by id.
func (c *Catalog) All() []Manifest {
	if c == nil {
		return nil
	}
	out := make([]Manifest, 0, len(c.apps))
	for _, m := range c.apps {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
