package api

import (
	"context"

	"github.com/nuvol-project/nuvol/src/ubus"
)

// ObjectName is the ubus object the daemon registers.
const ObjectName = "nuvol"

// UbusObject turns the table into a ubus object with the same methods and
// policies, so that `ubus -v list nuvol` shows each method's arguments.
//
// ubus carries no error text, only a status. On failure the handler still
// sends one DATA reply, {"error": "<message>"}, before the status: `ubus
// call` prints it, and so does anything else that reads the data.
func UbusObject(name string, t *Table) *ubus.Object {
	o := &ubus.Object{Name: name}
	for _, m := range t.Methods() {
		m := m
		um := ubus.Method{Name: m.Name}
		for _, a := range m.Args {
			um.Policy = append(um.Policy, ubus.Arg{Name: a.Name, Type: ubusType(a.Type)})
		}
		um.Handler = func(ctx context.Context, args map[string]any) (map[string]any, error) {
			res, err := t.Call(ctx, m.Name, args)
			if err != nil {
				e := AsError(err)
				return map[string]any{"error": e.Message}, e.Code
			}
			return res, nil
		}
		o.Methods = append(o.Methods, um)
	}
	return o
}

func ubusType(t Type) ubus.Type {
	switch t {
	case Int:
		return ubus.TypeInt32
	case Bool:
		return ubus.TypeBool
	}
	return ubus.TypeString
}

// UbusEvents returns a Backend.Event function that sends events on c. While
// ubusd is away events are dropped: they are hints to refresh, and whoever
// listens re-reads the state when it reconnects.
func UbusEvents(c *ubus.Client, logf func(string, ...any)) func(string, map[string]any) {
	return func(event string, data map[string]any) {
		if err := c.Send(event, data); err != nil && logf != nil {
			logf("ubus: event %s not sent: %v", event, err)
		}
	}
}
