//go:build !unix

package simnet

import "net"

// refuser, where a bound but not listening socket is not available, takes a free port and
// releases it: connections are refused unless something else grabs the port meanwhile.
type refuser struct{ addr string }

func newRefuser() (*refuser, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	return &refuser{addr: addr}, nil
}

func (r *refuser) close() {}
