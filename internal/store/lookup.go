package store

import (
	"context"
	"errors"
	"fmt"
	"github.com/audius-netmon/netmon/internal/lifecycle"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The lookups of one user or one CID in a run, for `netmon user`, `netmon cid` and the web view:
// what the snapshot said, what each node answered, and the work item that carried the answer.

// ErrNotInRun is returned when a run has no such user or CID.
var ErrNotInRun = errors.New("not in the run")

// Item is the work item (fetch_results row) that asked a node about a wallet or a CID. Found is
// false when no result of such an item was loaded (a run cut off at its deadline before it came).
type Item struct {
	Found      bool    `json:"found"`
	Kind       string  `json:"kind,omitempty"`
	Batch      int64   `json:"batch"`
	Outcome    string  `json:"outcome,omitempty"`
	Detail     string  `json:"detail,omitempty"`
	HTTPStatus int     `json:"http_status,omitempty"`
	Attempts   int     `json:"attempts,omitempty"`
	Seconds    float64 `json:"seconds,omitempty"`
}

// UserSlot is one slot of a user's replica set in a run: the node, its endpoint in the run's
// node list (Listed false when the node is not in it), the slot's clock as the per-user table
// holds it (nil: the slot has no node or the user no wallet; -2 not answered; -1 the node does
// not know the wallet; else the node's clock), and the work item that asked.
type UserSlot struct {
	Role     string `json:"role"` // primary, secondary1, secondary2
	SPID     *int64 `json:"sp_id"`
	Endpoint string `json:"endpoint"`
	Listed   bool   `json:"listed"`
	Clock    *int64 `json:"clock"`
	Item     Item   `json:"item"`
}

// UserAnswers is a user of a run: its snapshot row, its three slots and its sync category
// (fully, partially, unsynced; "" when it is in none), as the user_category view defines it.
type UserAnswers struct {
	Run        int64      `json:"run_id"`
	UserID     int64      `json:"user_id"`
	Wallet     *string    `json:"wallet"`
	ReplicaSet *string    `json:"replica_set"`
	Slots      []UserSlot `json:"slots"`
	Category   string     `json:"category"`
	// Built is false while the run's per-user table has not been built (the run is still
	// loading): the slots then carry the raw answers only, and no category.
	Built bool `json:"built"`
}

// FindUserID resolves a wallet (any case, surrounding blanks ignored, as the run matches
// answers) to the user id holding it in the run's snapshot. Several users may share a wallet;
// the lowest id is returned with the count.
func (s *Store) FindUserID(ctx context.Context, run int64, wallet string) (id int64, users int, err error) {
	var first *int64
	err = s.pool.QueryRow(ctx, `SELECT min(user_id), count(*) FROM users
		WHERE run_id = $1 AND lower(btrim(wallet)) = lower(btrim($2))`, run, wallet).Scan(&first, &users)
	if err == nil && first == nil {
		err = ErrNotInRun
	}
	if err != nil {
		return 0, 0, fmt.Errorf("wallet %q in run %d: %w", wallet, run, err)
	}
	return *first, users, nil
}

// UserAnswers looks a user up in a run. A node's answer for a slot is the one of the lowest
// batch that asked it about the user's wallet, as the per-user table takes it.
func (s *Store) UserAnswers(ctx context.Context, run, user int64) (UserAnswers, error) {
	u := UserAnswers{Run: run, UserID: user}
	var sps [3]*int64
	var clocks [3]*int64
	var category *string
	err := s.pool.QueryRow(ctx, `SELECT u.wallet, u.replica_set, u.primary_sp_id, u.secondary1_sp_id, u.secondary2_sp_id,
			c.user_id IS NOT NULL, c.primary_clock, c.secondary1_clock, c.secondary2_clock, c.category
		FROM users u
		LEFT JOIN user_category c ON c.run_id = u.run_id AND c.user_id = u.user_id
		WHERE u.run_id = $1 AND u.user_id = $2
		ORDER BY u.wallet NULLS LAST LIMIT 1`, run, user).
		Scan(&u.Wallet, &u.ReplicaSet, &sps[0], &sps[1], &sps[2], &u.Built, &clocks[0], &clocks[1], &clocks[2], &category)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, fmt.Errorf("user %d in run %d: %w", user, run, ErrNotInRun)
	}
	if err != nil {
		return u, fmt.Errorf("user %d in run %d: %w", user, run, err)
	}
	if category != nil {
		u.Category = *category
	}
	wallet := ""
	if u.Wallet != nil {
		wallet = strings.ToLower(strings.TrimSpace(*u.Wallet))
	}
	for i, role := range []string{"primary", "secondary1", "secondary2"} {
		slot := UserSlot{Role: role, SPID: sps[i], Clock: clocks[i]}
		if sps[i] != nil {
			if err := s.slotAnswer(ctx, run, *sps[i], wallet, u.Built, &slot); err != nil {
				return u, fmt.Errorf("user %d in run %d: %w", user, run, err)
			}
		}
		u.Slots = append(u.Slots, slot)
	}
	return u, nil
}

// slotAnswer fills a slot's endpoint, the raw answer (when the per-user table is not built yet)
// and its work item.
func (s *Store) slotAnswer(ctx context.Context, run, sp int64, wallet string, built bool, slot *UserSlot) error {
	err := s.pool.QueryRow(ctx, "SELECT endpoint FROM content_nodes WHERE run_id = $1 AND sp_id = $2", run, sp).Scan(&slot.Endpoint)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return err
	default:
		slot.Listed = true
	}
	if wallet == "" {
		return nil
	}
	var answer []int64 // {batch, clock}
	if err := s.pool.QueryRow(ctx, `SELECT min(ARRAY[batch, clock]) FROM clock_answers
		WHERE run_id = $1 AND sp_id = $2 AND wallet = $3`, run, sp, wallet).Scan(&answer); err != nil {
		return err
	}
	if answer == nil {
		return nil
	}
	if !built {
		slot.Clock = &answer[1]
	}
	slot.Item, err = s.item(ctx, run, sp, "clock", answer[0])
	return err
}

// item reads the fetch_results row of a work item.
func (s *Store) item(ctx context.Context, run, sp int64, kind string, batch int64) (Item, error) {
	it := Item{Kind: kind, Batch: batch}
	err := s.pool.QueryRow(ctx, `SELECT outcome, detail, http_status, attempts, duration_seconds FROM fetch_results
		WHERE run_id = $1 AND sp_id = $2 AND kind = $3 AND batch = $4`, run, sp, kind, batch).
		Scan(&it.Outcome, &it.Detail, &it.HTTPStatus, &it.Attempts, &it.Seconds)
	if errors.Is(err, pgx.ErrNoRows) {
		return it, nil
	}
	it.Found = err == nil
	return it, err
}

// UserRun is a user's category and slot clocks in one run, for its history.
type UserRun struct {
	Run       int64            `json:"run_id"`
	Status    lifecycle.Status `json:"status"`
	CreatedAt time.Time        `json:"created_at"`
	SPIDs     []*int64         `json:"sp_ids"`
	Clocks    []*int64         `json:"clocks"`
	Category  string           `json:"category"`
}

// UserHistory is the user in the newest runs up to and including run (at most limit of them,
// newest first) whose per-user table holds it.
func (s *Store) UserHistory(ctx context.Context, user, run int64, limit int) ([]UserRun, error) {
	rows, err := s.pool.Query(ctx, `SELECT r.run_id, r.status, r.created_at,
			c.primary_sp_id, c.secondary1_sp_id, c.secondary2_sp_id,
			c.primary_clock, c.secondary1_clock, c.secondary2_clock, coalesce(c.category, '')
		FROM (SELECT run_id, status, created_at FROM runs WHERE run_id <= $2 ORDER BY run_id DESC LIMIT $3) r
		JOIN user_category c ON c.run_id = r.run_id AND c.user_id = $1
		ORDER BY r.run_id DESC`, user, run, limit)
	if err != nil {
		return nil, fmt.Errorf("history of user %d: %w", user, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (UserRun, error) {
		u := UserRun{SPIDs: make([]*int64, 3), Clocks: make([]*int64, 3)}
		err := row.Scan(&u.Run, &u.Status, &u.CreatedAt, &u.SPIDs[0], &u.SPIDs[1], &u.SPIDs[2],
			&u.Clocks[0], &u.Clocks[1], &u.Clocks[2], &u.Category)
		return u, err
	})
	if err != nil {
		return nil, fmt.Errorf("history of user %d: %w", user, err)
	}
	return out, nil
}

// CIDHolder is one node of a CID's owner's replica set and what it said of the CID: State 1
// holds it, 0 does not, -2 no answer (never asked, or its item failed), with the work item that
// asked.
type CIDHolder struct {
	SPID     int64  `json:"sp_id"`
	Endpoint string `json:"endpoint"`
	State    int    `json:"state"`
	Item     Item   `json:"item"`
}

// CIDRow is one row of a run's CID snapshot (a CID of a user, or of one of its tracks, in one
// column or segment) with its expected holders (the owner's replica set) and how many of them
// hold it. Built is false while the run's CID status has not been built (still loading).
type CIDRow struct {
	Batch    int64       `json:"batch"`
	Index    int         `json:"index"`
	UserID   int64       `json:"user_id"`
	Type     string      `json:"type"`  // metadata, image, dir, track
	Route    string      `json:"route"` // cid or image_cid: the route it is checked on
	Holders  []CIDHolder `json:"holders"`
	Replicas int         `json:"replicas"`
	Built    bool        `json:"built"`
}

// CIDAnswers lists every row of the run's CID snapshot with that CID (the same CID can belong to
// several users or tracks), in snapshot order, or ErrNotInRun.
func (s *Store) CIDAnswers(ctx context.Context, run int64, cid string) ([]CIDRow, error) {
	rows, err := s.pool.Query(ctx, `SELECT c.batch, c.idx, c.user_id, c.ctype, c.route,
			st.sp_id, st.state, coalesce(st.replicas, 0), st.batch IS NOT NULL, coalesce(n.endpoint, '')
		FROM cids c
		LEFT JOIN cid_status st ON st.run_id = c.run_id AND st.batch = c.batch AND st.idx = c.idx
		LEFT JOIN content_nodes n ON n.run_id = c.run_id AND n.sp_id = st.sp_id
		WHERE c.run_id = $1 AND c.cid = $2
		ORDER BY c.batch, c.idx, st.sp_id`, run, cid)
	if err != nil {
		return nil, fmt.Errorf("cid %s in run %d: %w", cid, run, err)
	}
	var out []CIDRow
	for rows.Next() {
		var r CIDRow
		var sp *int64
		var state *int
		var endpoint string
		if err := rows.Scan(&r.Batch, &r.Index, &r.UserID, &r.Type, &r.Route, &sp, &state, &r.Replicas, &r.Built, &endpoint); err != nil {
			rows.Close()
			return nil, fmt.Errorf("cid %s in run %d: %w", cid, run, err)
		}
		if n := len(out); n == 0 || out[n-1].Batch != r.Batch || out[n-1].Index != r.Index {
			r.Holders = []CIDHolder{}
			out = append(out, r)
		}
		if sp != nil {
			h := CIDHolder{SPID: *sp, Endpoint: endpoint, State: -2}
			if state != nil {
				h.State = *state
			}
			last := &out[len(out)-1]
			last.Holders = append(last.Holders, h)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cid %s in run %d: %w", cid, run, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("cid %s in run %d: %w", cid, run, ErrNotInRun)
	}
	for i := range out {
		for j := range out[i].Holders {
			h := &out[i].Holders[j]
			if err := s.cidItem(ctx, run, cid, out[i].Route, h); err != nil {
				return nil, fmt.Errorf("cid %s in run %d: %w", cid, run, err)
			}
		}
	}
	return out, nil
}

// cidItem finds the work item whose answer the CID status took: the lowest batch that asked
// the node about the CID on its route.
func (s *Store) cidItem(ctx context.Context, run int64, cid, route string, h *CIDHolder) error {
	var batch *int64
	if err := s.pool.QueryRow(ctx, `SELECT min(batch) FROM cid_checks WHERE run_id = $1 AND sp_id = $2 AND route = $3 AND cid = $4`,
		run, h.SPID, route, cid).Scan(&batch); err != nil {
		return err
	}
	if batch == nil {
		return nil
	}
	var err error
	h.Item, err = s.item(ctx, run, h.SPID, route, *batch)
	return err
}
