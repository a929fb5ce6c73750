package main

import (
	"context"

	"github.com/nuvol-project/nuvol/src/api"
)

// Backend answers calls to the `nuvol` ubus object. Errors carry a ubus
// status as *api.Error does.
type Backend interface {
	Call(ctx context.Context, method string, args map[string]any) (map[string]any, error)
}

// SocketBackend forwards each call to a daemon's control socket. A call
// dials its own connection so that a slow install never holds up the
// page's polling.
type SocketBackend struct{ Path string }

func (b SocketBackend) Call(ctx context.Context, method string, args map[string]any) (map[string]any, error) {
	c, err := api.Dial(b.Path)
	if err != nil {
		return nil, api.Errorf(api.StatusConnectionFailed, "%v", err)
	}
	defer c.Close()
	return c.Call(ctx, method, args)
}
