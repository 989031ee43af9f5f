package report

import (
	"context"
	"fmt"
	"strings"

	"github.com/audius-netmon/netmon/internal/store"
)

// CIDView is a CID in one run: every snapshot row carrying it with its expected holders (the
// owner's replica set), what each said, and its replication.
type CIDView struct {
	Run  store.Run      `json:"run"`
	CID  string         `json:"cid"`
	Rows []store.CIDRow `json:"rows"`
	// Answers say in words what each holder answered, per row, in Holders order.
	Answers [][]string `json:"answers"`
	// Replication says per row how many of the expected holders hold it.
	Replication []string `json:"replication"`
}

// CID looks up a CID in run (0: the newest run with data).
func CID(ctx context.Context, st Store, cid string, run int64) (CIDView, error) {
	v := CIDView{CID: strings.TrimSpace(cid)}
	if v.CID == "" || strings.ContainsAny(v.CID, " \t\n/") {
		return v, fmt.Errorf("%w: %q is not a CID", ErrUsage, cid)
	}
	var err error
	if v.Run, err = pickRun(ctx, st, run); err != nil {
		return v, err
	}
	if v.Rows, err = st.CIDAnswers(ctx, v.Run.ID, v.CID); err != nil {
		return v, err
	}
	for _, r := range v.Rows {
		var answers []string
		for _, h := range r.Holders {
			answers = append(answers, HolderAnswer(h))
		}
		v.Answers = append(v.Answers, answers)
		v.Replication = append(v.Replication, replication(r))
	}
	return v, nil
}

// HolderAnswer says in words what a node answered of a CID.
func HolderAnswer(h store.CIDHolder) string {
	switch h.State {
	case 1:
		return "holds it"
	case 0:
		return "does not hold it"
	}
	switch {
	case h.Endpoint == "":
		return "no answer: the node has no endpoint (deregistered on chain)"
	case !h.Item.Found:
		return "no answer: no result of a work item asking it was loaded"
	}
	return "no answer: " + itemText(h.Item)
}

func replication(r store.CIDRow) string {
	switch {
	case !r.Built:
		return "not built yet: the run is still loading"
	case len(r.Holders) == 0:
		return "the owner has no replica set: nobody is expected to hold it"
	}
	return fmt.Sprintf("held by %d of its %d expected nodes", r.Replicas, len(r.Holders))
}
