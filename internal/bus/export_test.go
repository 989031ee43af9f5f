package bus

import "github.com/nats-io/nats.go"

// CloseNow closes c's connection without draining it, as the connection of a killed process
// ends: nothing it holds is acked or nakked.
func CloseNow(c *Conn) { c.nc.Close() }

// RawNC is c's NATS connection, for tests of what bus does with the connection's own events.
func RawNC(c *Conn) *nats.Conn { return c.nc }
