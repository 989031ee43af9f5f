package simnet

// UserTruth is what netmon must record for one user: its replica set, each slot's clock and its
// sync category, computed like Truth in plain Go.
type UserTruth struct {
	UserID int64
	// SPIDs are the primary's and the secondaries' SP ids, 0 where the slot has none.
	SPIDs [3]int64
	// Clocks are the slots' clocks; nil where the slot's clock is NULL (no SP, or no wallet).
	Clocks [3]*int64
	// Category is fully, partially, unsynced, or "" for none.
	Category string
}

// UserTruth returns the truth of user id; ok is false when the network has no such user.
func (n *Network) UserTruth(id int64) (UserTruth, bool) {
	for i := range n.users {
		u := &n.users[i]
		if int64(u.id) != id {
			continue
		}
		t := UserTruth{UserID: id}
		var c [3]int64
		for k, sp := range u.spid {
			t.SPIDs[k] = int64(sp)
			c[k] = n.slotValue(u, k, sp)
			if c[k] != clockNull {
				v := c[k]
				t.Clocks[k] = &v
			}
		}
		t.Category = [...]string{catNone: "", catFully: "fully", catPartially: "partially", catUnsynced: "unsynced"}[syncCategory(c[0], c[1], c[2])]
		return t, true
	}
	return UserTruth{}, false
}
