// Package ubus speaks OpenWrt's ubus message bus in pure Go: the blob and
// blobmsg encodings of libubox, and the ubusd protocol over its unix socket.
//
// It exists because nuvol is a static, cgo-free binary: a libubus wrapper
// would need cgo, and no Go module for ubus can be had from the proxy.
//
// # Values
//
// blobmsg values map to Go values as follows. Decoding gives:
//
//	TABLE  -> map[string]any        ARRAY  -> []any
//	STRING -> string                INT8   -> bool (libubox's BOOL is INT8)
//	INT16  -> int16                 INT32  -> int32
//	INT64  -> int64                 DOUBLE -> float64
//	UNSPEC -> nil
//
// Encoding accepts those types and more: int, uint and friends become
// INT32 when the value fits and INT64 otherwise (as libblobmsg_json does
// for JSON numbers), float32 becomes DOUBLE, map[string]T and []T of any
// supported T, Table for a table with a fixed member order, json.Number and
// json.RawMessage, and anything else that encoding/json can marshal (structs
// keep their field order). Maps are written in sorted key order so that the
// bytes are deterministic.
//
// # Protocol
//
// Dial opens one connection to ubusd. Conn is safe for concurrent use: many
// calls may be in flight at once, and every incoming method call runs in its
// own goroutine so a slow handler never holds up the socket reader. Client
// wraps Conn and redials with backoff when ubusd restarts, adding objects,
// event listeners and subscriptions again.
//
// File descriptors that a peer passes along with a reply (SCM_RIGHTS, as
// ubus-example-server does) are not taken: the socket is read without a
// control buffer, so the kernel closes them, and none leaks.
//
// The byte layout follows libubox and ubus as built from openwrt/libubox
// 1aa36ee7 and openwrt/ubus 3cc98db1; testdata/README.md says what was
// checked against those binaries.
package ubus
