package federation

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// MarkerTag marks a nuvol node. Its value, "1 <total> <hash>", says how many
// services the node publishes in all and names that list, so a peer knows
// whether the `services` tag holds them all and when to fetch them again.
const MarkerTag = "nuvol"

// QueryName is the serf query a nuvol node answers with its full list of
// published services, one page at a time.
const QueryName = "nuvol-services"

// maxPages bounds how many pages we ask one peer for.
const maxPages = 64

type marker struct {
	total int
	hash  string
}

func (m marker) String() string { return fmt.Sprintf("1 %d %s", m.total, m.hash) }

// parseMarker reads a marker tag; ok is false when it is not one we know.
func parseMarker(v string) (marker, bool) {
	f := strings.Fields(v)
	if len(f) != 3 || f[0] != "1" {
		return marker{}, false
	}
	n, err := strconv.Atoi(f[1])
	if err != nil || n < 0 || n > maxServicesPerNode || len(f[2]) > 64 {
		return marker{}, false
	}
	return marker{total: n, hash: f[2]}, true
}

// listHash names a list of services (12 bytes of its sha256, in hex).
func listHash(svcs []Service) string {
	j, _ := marshalServices(svcs)
	sum := sha256.Sum256(j)
	return hex.EncodeToString(sum[:12])
}

// page is one answer to the nuvol-services query.
type page struct {
	Hash  string        `json:"h"`
	Pages int           `json:"n"`
	Index int           `json:"i"`
	Items []wireService `json:"s"`
}

type pageRequest struct {
	Index int `json:"i"`
}

// paginate splits svcs into pages of at most limit bytes of JSON. A
// service that alone is larger than a page cannot be sent: it is returned
// in tooBig and is not part of the list the hash names.
func paginate(svcs []Service, limit int) (pages [][]byte, list []Service, tooBig []Service) {
	for _, s := range svcs {
		one, _ := json.Marshal(page{Hash: strings.Repeat("0", 24), Pages: maxPages, Index: maxPages, Items: []wireService{toWire(s)}})
		if len(one) > limit {
			tooBig = append(tooBig, s)
			continue
		}
		list = append(list, s)
	}
	hash := listHash(list)
	var groups [][]wireService
	var cur []wireService
	for _, s := range list {
		try := append(append([]wireService(nil), cur...), toWire(s))
		b, _ := json.Marshal(page{Hash: hash, Pages: maxPages, Index: maxPages, Items: try})
		if len(b) > limit && len(cur) > 0 {
			groups = append(groups, cur)
			try = []wireService{toWire(s)}
		}
		cur = try
	}
	if len(cur) > 0 || len(groups) == 0 {
		groups = append(groups, cur)
	}
	if len(groups) > maxPages {
		// Past what a peer will fetch: the rest cannot be seen by nuvol peers.
		for _, g := range groups[maxPages:] {
			for _, w := range g {
				tooBig = append(tooBig, fromWire(w))
			}
		}
		groups = groups[:maxPages]
		list = list[:0]
		for _, g := range groups {
			for _, w := range g {
				list = append(list, fromWire(w))
			}
		}
		hash = listHash(list)
	}
	for i, g := range groups {
		if g == nil {
			g = []wireService{}
		}
		b, _ := json.Marshal(page{Hash: hash, Pages: len(groups), Index: i, Items: g})
		pages = append(pages, b)
	}
	return pages, list, tooBig
}

func fromWire(w wireService) Service {
	return Service{Type: w.S, Description: w.D, Host: w.M, Address: w.I, Port: w.P, Device: w.E, Extra: w.T}
}

// parsePage reads a peer's answer; it trusts nothing in it.
func parsePage(b []byte) (page, error) {
	var p page
	if err := json.Unmarshal(b, &p); err != nil {
		return page{}, fmt.Errorf("nuvol-services page: %v", err)
	}
	if p.Pages < 1 || p.Pages > maxPages || p.Index < 0 || p.Index >= p.Pages {
		return page{}, fmt.Errorf("nuvol-services page: page %d of %d", p.Index, p.Pages)
	}
	if len(p.Items) > maxServicesPerNode || len(p.Hash) > 64 {
		return page{}, fmt.Errorf("nuvol-services page: %d items, hash %d bytes", len(p.Items), len(p.Hash))
	}
	return p, nil
}
