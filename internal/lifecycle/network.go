package lifecycle

import "fmt"

// Network is what a run checks. Each network has its own runs, one active at a time (a clocks
// run and a storage run may overlap), its own schedule and its own Pushgateway job.
type Network string

const (
	// Clocks is the legacy network of replica sets and per-user clocks (the original's run).
	Clocks Network = "clocks"
	// Storage is storage v2: blob replication over the registered nodes (audius-storage-v2.md).
	Storage Network = "storage"
)

// Networks lists every network.
var Networks = []Network{Clocks, Storage}

// ParseNetwork returns the network named s; empty is Clocks (runs and requests from before
// storage runs existed).
func ParseNetwork(s string) (Network, error) {
	switch s {
	case "", string(Clocks):
		return Clocks, nil
	case string(Storage):
		return Storage, nil
	}
	return "", fmt.Errorf("unknown network %q: want clocks or storage", s)
}
