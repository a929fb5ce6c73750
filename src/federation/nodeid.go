package federation

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// NodeID returns a node name as Cloudy makes one: 32 hex digits kept in
// the file at path (created on first use, so the name survives restarts
// and the serf snapshot still names this node), then "-" and the port.
func NodeID(path string, port int) (string, error) {
	b, err := os.ReadFile(path)
	id := strings.TrimSpace(string(b))
	if err == nil && len(id) == 32 && isHex(id) {
		return id + "-" + strconv.Itoa(port), nil
	}
	if err != nil && !os.IsNotExist(err) {
		return "", fmt.Errorf("node id %s: %v", path, err)
	}
	var r [16]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", fmt.Errorf("node id: %v", err)
	}
	id = hex.EncodeToString(r[:])
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("node id %s: %v", path, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("node id %s: %v", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("node id %s: %v", path, err)
	}
	return id + "-" + strconv.Itoa(port), nil
}

func isHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
