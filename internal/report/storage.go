package report

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/placement"
	"github.com/audius-netmon/netmon/internal/store"
)

// StorageKeyView is a key in one storage run: every node of the run in the key's ranking, who
// should hold it, and what each node asked said.
type StorageKeyView struct {
	Run    store.Run        `json:"run"`
	Key    string           `json:"key"`
	Placed bool             `json:"placed"` // the holders are the upload's placement_hosts
	Nodes  []StorageKeyNode `json:"nodes"`  // expected holders first, in preference order, then by rank
	Holds  string           `json:"holds"`  // how many expected holders answered present, in words
}

// StorageKeyNode is one node of a StorageKeyView.
type StorageKeyNode struct {
	store.StorageNodeAnswer
	Rank   int    `json:"rank"`   // 0-based position in the key's sha256 ranking over the run's nodes
	Answer string `json:"answer"` // what it said, in words
}

// StorageKey looks up key in storage run run (0: the newest storage run with data).
func StorageKey(ctx context.Context, st Store, key string, run int64) (StorageKeyView, error) {
	v := StorageKeyView{Key: key}
	if strings.TrimSpace(key) == "" {
		return v, fmt.Errorf("%w: an empty key", ErrUsage)
	}
	var err error
	if run == 0 {
		v.Run, err = LatestWithData(ctx, st, lifecycle.Storage)
	} else {
		v.Run, err = st.GetRun(ctx, run)
	}
	if err != nil {
		return v, err
	}
	if v.Run.Network != lifecycle.Storage {
		return v, fmt.Errorf("%w: run %d is a %s run", ErrUsage, v.Run.ID, v.Run.Network)
	}
	nodes, placed, found, err := st.StorageKeyAnswers(ctx, v.Run.ID, key)
	if err != nil {
		return v, err
	}
	if !found {
		return v, fmt.Errorf("key %q is not in storage run %d's sample: %w", key, v.Run.ID, store.ErrNoRun)
	}
	v.Placed = placed
	hosts := make([]string, len(nodes))
	for i, n := range nodes {
		hosts[i] = n.Endpoint
	}
	ring, _ := placement.NewRing(hosts)
	expected, present := 0, 0
	for _, n := range nodes {
		kn := StorageKeyNode{StorageNodeAnswer: n, Rank: ring.Position(key, n.Endpoint), Answer: StorageAnswer(n.State)}
		if n.Expected {
			expected++
			if n.State != nil && *n.State == 1 {
				present++
			}
		}
		v.Nodes = append(v.Nodes, kn)
	}
	// Expected holders keep the plan's order; the others follow by rank.
	slices.SortStableFunc(v.Nodes[expected:], func(a, b StorageKeyNode) int { return a.Rank - b.Rank })
	v.Holds = fmt.Sprintf("%d of %d expected holders answered present", present, expected)
	return v, nil
}

// StorageAnswer says in words what a node answered of a key (storage_checks.state; nil: not
// asked).
func StorageAnswer(state *int) string {
	if state == nil {
		return "not asked"
	}
	switch *state {
	case 1:
		return "present"
	case 0:
		return "absent (404)"
	case -1:
		return "unknown (500)"
	}
	return "no answer"
}
