package ubus_test

import (
	"context"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nuvol-project/nuvol/src/ubus"
	"github.com/nuvol-project/nuvol/src/ubus/ubustest"
)

// fakeUbusd accepts one connection, sends a HELLO, then whatever script
// writes. It stands for a broken or hostile ubusd.
func fakeUbusd(t *testing.T, script func(c net.Conn)) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ubusfake")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "s")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write(hexb("00 00 00 00 12 34 56 78  00 00 00 04"))
		script(c)
		time.Sleep(time.Second)
	}()
	return path
}

func hexb(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

func TestHostileUbusd(t *testing.T) {
	for name, bytes := range map[string]string{
		"length past 1 MiB":  "00 02 00 01 00 00 00 00  00 20 00 00",
		"length below 4":     "00 02 00 01 00 00 00 00  00 00 00 01",
		"version 3":          "03 02 00 01 00 00 00 00  00 00 00 04",
		"truncated then EOF": "00 02 00 01 00 00 00 00  00 00 00 40  07 00 00 08",
	} {
		t.Run(name, func(t *testing.T) {
			path := fakeUbusd(t, func(c net.Conn) {
				time.Sleep(20 * time.Millisecond)
				c.Write(hexb(bytes))
				if strings.Contains(name, "EOF") {
					c.Close()
				}
			})
			c, err := ubus.Dial(path)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err = c.Call(ctx, "x", "y", nil)
			if !errors.Is(err, ubus.ErrConnectionFailed) {
				t.Fatalf("call: %v", err)
			}
			<-c.Done()
			if c.Err() == nil {
				t.Fatal("no error recorded")
			}
		})
	}
}

// Messages that are framed right but carry garbage are dropped one by one;
// the connection lives on.
func TestGarbageMessagesDropped(t *testing.T) {
	path := fakeUbusd(t, func(c net.Conn) {
		if _, err := ubus.ReadMessage(c, nil); err != nil { // the client's PING, seq 1
			return
		}
		c.Write(hexb("00 05 00 01 00 00 00 00  00 00 00 0c  03 00 00 07 00 00 00 00")) // OBJID of 3 bytes
		c.Write(hexb("00 05 00 01 00 00 00 00  00 00 00 0c  03 00 00 10 00 00 00 00")) // attribute past the message
		c.Write(hexb("00 05 00 01 00 00 00 00  00 00 00 0c  03 00 00 08 00 00 00 09")) // invoke unknown object
		c.Write(hexb("00 02 00 07 00 00 00 00  00 00 00 04"))                          // data for no request
		c.Write(hexb("00 0c 00 07 00 00 00 00  00 00 00 04"))                          // type 12
		// Then the reply to the PING.
		c.Write(hexb("00 01 00 01 00 00 00 00  00 00 00 0c  01 00 00 08 00 00 00 00"))
	})
	c, err := ubus.Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Ping(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

// A client that sends a bad length is dropped by the broker (as ubusd
// does); the broker keeps serving others.
func TestBrokerDropsBadClient(t *testing.T) {
	b := ubustest.NewBroker(t)
	raw, err := net.Dial("unix", b.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := ubus.ReadMessage(raw, nil); err != nil {
		t.Fatal(err)
	}
	raw.Write(hexb("00 04 00 01 00 00 00 00  00 10 00 08"))
	raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := ubus.ReadMessage(raw, nil); err == nil {
		t.Fatal("broker answered a message of more than 1 MiB")
	}
	c := dial(t, b)
	if err := c.Ping(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

// A reply past ubusd's limit is refused with NO_MEMORY instead of getting
// the provider disconnected.
func TestOversizeReply(t *testing.T) {
	b := ubustest.NewBroker(t)
	prov, cli := dial(t, b), dial(t, b)
	prov.AddObject(&ubus.Object{Name: "big", Methods: []ubus.Method{{Name: "m",
		Handler: func(context.Context, map[string]any) (map[string]any, error) {
			return map[string]any{"s": strings.Repeat("x", ubus.MaxMessageLen)}, nil
		}}}})
	if _, err := cli.Call(ctxT(t), "big", "m", nil); !errors.Is(err, ubus.ErrNoMemory) {
		t.Fatalf("got %v", err)
	}
	if _, err := cli.Call(ctxT(t), "big", "m", map[string]any{"s": strings.Repeat("x", ubus.MaxMessageLen)}); err == nil {
		t.Fatal("oversize request sent")
	}
	if err := prov.Ping(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}
