// Command luci-harness serves luci-app-nuvol to a browser the way a router
// does, for nuvol's headless Chromium test and for looking at the pages on a
// development machine. It is not installed on routers.
//
// It plays three parts of an OpenWrt router:
//   - uhttpd's /ubus JSON-RPC endpoint with rpcd's sessions and ACLs (the
//     groups in luci-app-nuvol's acl.d file), whose `nuvol` object forwards
//     to a running daemon's control socket and whose `uci` object stages and
//     commits changes to the daemon's UCI file;
//   - the LuCI pages: a login form, then each view of the app's menu.d file
//     in a page shell that loads the test stand-in of LuCI's client library
//     (luci-app/tests/harness) and the real views (luci-app/htdocs);
//   - LuCI's apply/revert CGI actions that Save & Apply posts to.
//
// Usage:
//
//	luci-harness -socket /run/nuvol.sock -config /etc/config/nuvol [-listen 127.0.0.1:8080]
//	luci-harness -fake            (in-memory backend, for developing the views)
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"github.com/nuvol-project/nuvol/src/api"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "HTTP address to serve on")
	root := flag.String("root", ".", "nuvol source tree (the directory that holds luci-app/)")
	socket := flag.String("socket", "", "the nuvol daemon's control socket (with -fake: serve the fake there)")
	fake := flag.Bool("fake", false, "answer nuvol calls from an in-memory fake instead of a daemon")
	config := flag.String("config", "", "the UCI file the `uci` object reads and writes as config \"nuvol\"")
	password := flag.String("password", "nuvol", "password of the users root (write) and viewer (read only)")
	hostname := flag.String("hostname", "nuvol-router", "host name shown in the page header")
	flag.Parse()

	var backend Backend
	switch {
	case *fake:
		table := NewFake()
		backend = table
		if *socket != "" {
			// Serve the fake on a control socket too, so that a test
			// can check what the pages did as it checks a daemon.
			ln, err := api.Listen(*socket)
			if err != nil {
				log.Fatal(err)
			}
			go (&api.Server{Table: table}).Serve(ln)
		}
	case *socket != "":
		backend = SocketBackend{Path: *socket}
	default:
		log.Fatal("luci-harness: give -socket PATH (a running daemon) or -fake")
	}
	if *config == "" {
		dir, err := os.MkdirTemp("", "luci-harness-")
		if err != nil {
			log.Fatal(err)
		}
		*config = filepath.Join(dir, "nuvol")
		if err := os.WriteFile(*config, []byte(defaultConfig), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	srv, err := NewServer(Options{Root: *root, Backend: backend, UCIPath: *config,
		Password: *password, Hostname: *hostname, Logf: log.Printf})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	// The test reads this line to learn the port.
	fmt.Printf("luci-harness: listening on http://%s/\n", ln.Addr())
	os.Stdout.Sync()
	log.Fatal(http.Serve(ln, srv))
}

const defaultConfig = `config nuvol 'main'
	option enabled '1'
	option node_name 'fake-node'
	option cloud_name 'guifi'
	option bind_port '5000'
	option lxc_path '/srv/lxc'
`
