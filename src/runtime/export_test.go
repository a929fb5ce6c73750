package runtime

import "context"

// QuickInfo is LXCTools' answer without lxc-info; ok is false when it
// would ask lxc-info.
func QuickInfo(r *LXCTools, name string) (Info, bool) { return r.quickInfo(name) }

// SlowInfo is LXCTools' answer from lxc-info, which it then remembers.
func SlowInfo(ctx context.Context, r *LXCTools, name string) (Info, error) {
	r.seen.forget(name)
	return r.Info(ctx, name)
}
