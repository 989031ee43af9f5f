package loader

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/proto"

	"github.com/audius-netmon/netmon/internal/message"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// validate refuses, for good, a decoded message that does not fit its subject. The loader writes
// a message's rows under the run its body names, so a body naming another run than its subject
// (from a broken or hostile publisher) would write into that run; and a manifest with negative
// counts would mark a run loaded before anything arrived. FuzzLoaderHandle found both.
func validate(subj message.Subject, m proto.Message) error {
	if r, ok := m.(interface{ GetRunId() int64 }); ok && r.GetRunId() != subj.Run {
		return message.Permanent(fmt.Errorf("%s message on run %d's subject names run %d", subj.Family, subj.Run, r.GetRunId()))
	}
	if mf, ok := m.(*netmonv1.Manifest); ok {
		for name, n := range map[string]int64{"user_batches": mf.GetUserBatches(), "users": mf.GetUsers(),
			"content_nodes": mf.GetContentNodes(), "work_items": mf.GetWorkItems(), "wallet_checks": mf.GetWalletChecks(),
			"cid_batches": mf.GetCidBatches(), "key_batches": mf.GetKeyBatches()} {
			if n < 0 {
				return message.Permanent(fmt.Errorf("manifest of run %d: %s = %d", subj.Run, name, n))
			}
		}
	}
	if pt, ok := m.(interface{ GetPart() int64 }); ok && (pt.GetPart() < 0 || pt.GetPart() > math.MaxInt32) {
		return message.Permanent(fmt.Errorf("%s message of run %d names part %d", subj.Family, subj.Run, pt.GetPart()))
	}
	if p, ok := m.(*netmonv1.Part); ok {
		for name, n := range map[string]int64{"first_user_batch": p.GetFirstUserBatch(), "user_batches": p.GetUserBatches(),
			"users": p.GetUsers(), "work_items": p.GetWorkItems()} {
			if n < 0 {
				return message.Permanent(fmt.Errorf("part %d of run %d: %s = %d", p.GetPart(), subj.Run, name, n))
			}
		}
	}
	return nil
}
