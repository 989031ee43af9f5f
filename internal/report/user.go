package report

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/store"
)

// UserView answers "why is this user unsynced?": the user in one run (its replica set, each
// node's answer with the work item that carried it, its category and why) and the same user over
// the runs before.
type UserView struct {
	Run store.Run `json:"run"`
	store.UserAnswers
	// Answers say in words what each slot's clock means, in Slots order.
	Answers []string `json:"answers"`
	// Why explains the category from the clocks; Notes are the other counts the user is in.
	Why   string   `json:"why"`
	Notes []string `json:"notes"`
	// SameWallet is how many users of the run hold the wallet the user was looked up by (0 when
	// looked up by id).
	SameWallet int             `json:"same_wallet,omitempty"`
	History    []store.UserRun `json:"history"`
}

// UserHistoryRuns is how many runs a user's history goes back.
const UserHistoryRuns = 10

// User looks up who (a user id, or a wallet starting with 0x) in run (0: the newest run with
// data).
func User(ctx context.Context, st Store, who string, run int64) (UserView, error) {
	var v UserView
	var err error
	if v.Run, err = pickRun(ctx, st, run); err != nil {
		return v, err
	}
	id, err := strconv.ParseInt(who, 10, 64)
	switch {
	case err == nil && id > 0:
	case strings.HasPrefix(strings.ToLower(strings.TrimSpace(who)), "0x"):
		if id, v.SameWallet, err = st.FindUserID(ctx, v.Run.ID, who); err != nil {
			return v, err
		}
	default:
		return v, fmt.Errorf("%w: %q is neither a user id (a positive number) nor a wallet (0x...)", ErrUsage, who)
	}
	if v.UserAnswers, err = st.UserAnswers(ctx, v.Run.ID, id); err != nil {
		return v, err
	}
	for _, s := range v.Slots {
		v.Answers = append(v.Answers, SlotAnswer(s, v.Wallet))
	}
	v.Why, v.Notes = explain(v.UserAnswers)
	if v.History, err = st.UserHistory(ctx, id, v.Run.ID, UserHistoryRuns); err != nil {
		return v, err
	}
	return v, nil
}

// pickRun is run, or the newest run with data when run is 0.
func pickRun(ctx context.Context, st Store, run int64) (store.Run, error) {
	if run == 0 {
		return LatestWithData(ctx, st, lifecycle.Clocks) // users and CIDs are the clocks run's
	}
	return st.GetRun(ctx, run)
}

// SlotAnswer says in words what a slot's node answered and why, from its clock and work item.
func SlotAnswer(s store.UserSlot, wallet *string) string {
	switch {
	case s.SPID == nil:
		return "no node in this slot"
	case wallet == nil || strings.TrimSpace(*wallet) == "":
		return "not asked: the user has no wallet"
	case s.Clock == nil:
		return "not built yet: the run is still loading"
	case *s.Clock >= 0:
		return fmt.Sprintf("clock %d", *s.Clock)
	case *s.Clock == -1:
		return "-1: the node does not know the wallet" + itemSuffix(s.Item)
	}
	// -2: why there is no answer.
	switch {
	case !s.Listed:
		return "-2: no answer: the node is not in the run's content-node list"
	case s.Endpoint == "":
		return "-2: no answer: the node has no endpoint (deregistered on chain)"
	case !s.Item.Found:
		return "-2: no answer: no result of its work item was loaded (the run was cut off at its deadline)"
	}
	return "-2: no answer: " + itemText(s.Item)
}

func itemSuffix(it store.Item) string {
	if !it.Found {
		return ""
	}
	return fmt.Sprintf(" (work item %d, %s)", it.Batch, it.Outcome)
}

// itemText describes a work item: "work item 3: timeout after 3 attempts: context deadline exceeded".
func itemText(it store.Item) string {
	s := fmt.Sprintf("%s work item %d: %s", it.Kind, it.Batch, it.Outcome)
	if it.HTTPStatus != 0 {
		s += fmt.Sprintf(" (HTTP %d)", it.HTTPStatus)
	}
	if it.Attempts > 1 {
		s += fmt.Sprintf(" after %d attempts", it.Attempts)
	}
	if it.Detail != "" {
		s += ": " + it.Detail
	}
	return s
}

// explain says why a user is in its category (user_category's predicates, in words) and which
// other counts it is in (no primary clock, a replica that did not answer, unknown wallets).
func explain(u store.UserAnswers) (string, []string) {
	var notes []string
	c := [3]*int64{}
	for i, s := range u.Slots {
		c[i] = s.Clock
	}
	if c[0] == nil && u.Built {
		notes = append(notes, "counted in no_primary_user_count (no primary clock)")
	}
	for _, x := range c {
		if x != nil && *x == -2 {
			notes = append(notes, "counted in unhealthy_replica_users_count (a replica did not answer)")
			break
		}
	}
	for i, x := range c {
		if x != nil && *x == -1 {
			notes = append(notes, fmt.Sprintf("%s (sp %d) does not know the wallet: counted in its unknown_wallet_slots", u.Slots[i].Role, *u.Slots[i].SPID))
		}
	}
	if notes == nil {
		notes = []string{}
	}
	if !u.Built {
		return "no category yet: the run's per-user table is built once everything is loaded (or at the deadline)", notes
	}
	v := func(i int) string { return clockValue(c[i]) }
	switch u.Category {
	case "fully":
		if *c[0] == -1 {
			return "fully synced: no node knows the wallet (-1 in all three slots), which counts as fully synced, as in the original", notes
		}
		return fmt.Sprintf("fully synced: the primary and both secondaries report clock %d", *c[0]), notes
	case "partially":
		match, other := 1, 2
		if *c[0] != *c[1] {
			match, other = 2, 1
		}
		return fmt.Sprintf("partially synced: the primary's %s equals %s's but not %s's (%s)",
			v(0), u.Slots[match].Role, u.Slots[other].Role, v(other)), notes
	case "unsynced":
		return fmt.Sprintf("unsynced: the primary's %s equals neither secondary's (%s, %s)", v(0), v(1), v(2)), notes
	}
	for i, x := range c {
		if x == nil {
			why := "it has no node"
			if u.Slots[i].SPID != nil {
				why = "the user has no wallet, so no node was asked"
			}
			return fmt.Sprintf("in no sync category: the %s slot has no clock (%s); a user with a slot without a clock is in none", u.Slots[i].Role, why), notes
		}
	}
	return fmt.Sprintf("in no sync category: the primary (sp %d) did not answer (-2), so there is nothing to compare with", *u.Slots[0].SPID), notes
}

// CategoryName names a user's category for people: "not known yet" before the run's per-user
// table is built, "none" for a user in no category.
func CategoryName(c string, built bool) string {
	switch {
	case !built:
		return "not known yet"
	case c == "":
		return "none"
	}
	return c
}

// clockValue is a clock as a value in a sentence: "clock 5", "-1", "-2".
func clockValue(c *int64) string {
	if c == nil {
		return "none"
	}
	if *c < 0 {
		return strconv.FormatInt(*c, 10)
	}
	return "clock " + strconv.FormatInt(*c, 10)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
