package config

import (
	"bytes"
	"os"
	"testing"

	"github.com/nuvol-project/nuvol/src/uci"
)

// FuzzFromUCI checks that no file makes validation panic, that a file it
// accepts survives PutApp of every app it read, and that a rejected file
// always says why.
func FuzzFromUCI(f *testing.F) {
	if b, err := os.ReadFile(shipped); err == nil {
		f.Add(b)
	}
	f.Add(bigConfig()[:2000])
	for _, s := range []string{
		"config nuvol main\n\toption bind_port 0\n", "config app web\n\toption app x\n\toption port 5000\n",
		"config app\nconfig nuvol\nconfig nuvol\n", "config app cfg0a1b2c\n\toption network bridge\n",
		"config app d\n\toption app x\n\toption description '\x1b'\n", "config nuvol main\n\tlist join '[::1]:1'\n\tlist join 'a..b'\n\toption encrypt_key '===='\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := uci.Parse("nuvol", bytes.NewReader(data))
		if err != nil {
			return
		}
		c, err := FromUCI(file)
		if err != nil {
			if es, ok := err.(Errors); !ok || len(es) == 0 {
				t.Fatalf("error %T %v", err, err)
			}
			return
		}
		for _, a := range c.Apps {
			if err := PutApp(file, a); err != nil {
				t.Fatalf("PutApp(%+v) of an app FromUCI accepted: %v", a, err)
			}
		}
		c2, err := FromUCI(file)
		if err != nil {
			t.Fatalf("file rejected after PutApp: %v", err)
		}
		if len(c2.Apps) != len(c.Apps) {
			t.Fatalf("%d apps became %d", len(c.Apps), len(c2.Apps))
		}
	})
}
