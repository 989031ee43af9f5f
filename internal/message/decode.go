package message

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// Decode is in's payload as the message its subject says it carries: a *netmonv1.WorkItem on a
// clock work subject, a *netmonv1.CIDResult on a CID result subject, a *netmonv1.UserBatch on
// netmon.snapshot.<run>.users, and so on. A subject that carries no known message, or a payload
// that does not decode, is a Permanent error: no redelivery changes either. Whether the message
// fits its subject otherwise (the run it names) is for its consumer to check.
func Decode(in In) (proto.Message, error) {
	m := empty(in.Subject)
	if m == nil {
		return nil, Permanent(fmt.Errorf("subject %s carries no known message", in.Subject))
	}
	if err := proto.Unmarshal(in.Data, m); err != nil {
		return nil, Permanent(fmt.Errorf("decode %s message of run %d: %w", in.Subject.Family, in.Subject.Run, err))
	}
	return m, nil
}

// empty is a new message of the type subject s carries, or nil.
func empty(s Subject) proto.Message {
	switch s.Family {
	case FamilyWork:
		switch token(s) {
		case "":
			return &netmonv1.WorkItem{}
		case CIDToken:
			return &netmonv1.CIDWorkItem{}
		case StorageToken:
			return &netmonv1.StorageWorkItem{}
		case HealthToken:
			return &netmonv1.HealthWorkItem{}
		}
	case FamilyResult:
		switch token(s) {
		case "":
			return &netmonv1.FetchResult{}
		case CIDToken:
			return &netmonv1.CIDResult{}
		case StorageToken:
			return &netmonv1.StorageResult{}
		case HealthToken:
			return &netmonv1.HealthResult{}
		}
	case FamilySnapshot:
		switch s.Kind() {
		case KindRun:
			return &netmonv1.Run{}
		case KindNodes:
			return &netmonv1.ContentNodeBatch{}
		case KindUsers:
			return &netmonv1.UserBatch{}
		case KindPart:
			return &netmonv1.Part{}
		case KindCIDs:
			return &netmonv1.CIDBatch{}
		case KindKeys:
			return &netmonv1.StorageKeyBatch{}
		case KindManifest:
			return &netmonv1.Manifest{}
		}
	case FamilyRun:
		switch s.Kind() {
		case "":
		case KindRecord:
			return &netmonv1.RunRecord{}
		default:
			return &netmonv1.RunEvent{}
		}
	}
	return nil
}

// token is what follows the SP id of a work item or result subject: "" for clock checks,
// CIDToken, StorageToken or HealthToken; "?" when the subject has no SP id or more tokens.
func token(s Subject) string {
	switch len(s.Rest) {
	case 1:
		return ""
	case 2:
		return s.Rest[1]
	}
	return "?"
}
