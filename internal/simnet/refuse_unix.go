//go:build unix

package simnet

import (
	"fmt"
	"syscall"
)

// refuser holds a loopback port without listening on it, so connections to it are refused
// (ECONNREFUSED) and no other listener can take the port while the network runs.
type refuser struct {
	fd   int
	addr string
}

func newRefuser() (*refuser, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("bind: %w", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("getsockname: %w", err)
	}
	port := sa.(*syscall.SockaddrInet4).Port
	return &refuser{fd: fd, addr: fmt.Sprintf("127.0.0.1:%d", port)}, nil
}

func (r *refuser) close() { syscall.Close(r.fd) }
