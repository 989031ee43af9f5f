package message_test

import (
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/audius-netmon/netmon/internal/message"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// TestOutsDecodeAsPublished: each constructor's subject parses, prints back as itself, names the
// message's run (and node), and decodes to the message's own type; ids are the documented forms.
func TestOutsDecodeAsPublished(t *testing.T) {
	for _, c := range []struct {
		out    message.Out
		id     string
		sp     int64
		family message.Family
	}{
		{message.RunOut(&netmonv1.Run{RunId: 4}), "r4-run-0", 0, message.FamilySnapshot},
		{message.NodesOut(&netmonv1.ContentNodeBatch{RunId: 4}), "r4-nodes-0", 0, message.FamilySnapshot},
		{message.UsersOut(&netmonv1.UserBatch{RunId: 4, Batch: 2}), "r4-users-2", 0, message.FamilySnapshot},
		{message.CIDsOut(&netmonv1.CIDBatch{RunId: 4, Batch: 3}), "r4-cids-3", 0, message.FamilySnapshot},
		{message.KeysOut(&netmonv1.StorageKeyBatch{RunId: 4, Batch: 1}), "r4-keys-1", 0, message.FamilySnapshot},
		{message.ManifestOut(&netmonv1.Manifest{RunId: 4}), "r4-manifest-0", 0, message.FamilySnapshot},
		{message.WorkOut(&netmonv1.WorkItem{RunId: 4, SpId: 7, Batch: 5}), "r4-work-7-5", 7, message.FamilyWork},
		{message.ResultOut(&netmonv1.FetchResult{RunId: 4, SpId: 7, Batch: 5}), "r4-result-7-5", 7, message.FamilyResult},
		{message.CIDWorkOut(&netmonv1.CIDWorkItem{RunId: 4, SpId: 7, Route: netmonv1.CIDRoute_CID_ROUTE_IMAGES, Batch: 5}), "r4-cidwork-7-2-5", 7, message.FamilyWork},
		{message.CIDResultOut(&netmonv1.CIDResult{RunId: 4, SpId: 7, Route: netmonv1.CIDRoute_CID_ROUTE_IMAGES, Batch: 5}), "r4-cidresult-7-2-5", 7, message.FamilyResult},
		{message.StorageWorkOut(&netmonv1.StorageWorkItem{RunId: 4, SpId: 7, Batch: 5}), "r4-storagework-7-5", 7, message.FamilyWork},
		{message.StorageResultOut(&netmonv1.StorageResult{RunId: 4, SpId: 7, Batch: 5}), "r4-storageresult-7-5", 7, message.FamilyResult},
		{message.HealthWorkOut(&netmonv1.HealthWorkItem{RunId: 4, SpId: 7}), "r4-healthwork-7", 7, message.FamilyWork},
		{message.HealthResultOut(&netmonv1.HealthResult{RunId: 4, SpId: 7}), "r4-healthresult-7", 7, message.FamilyResult},
		{message.RunEventOut(4, "complete", &netmonv1.RunEvent{RunId: 4}), "r4-run-complete", 0, message.FamilyRun},
		{message.RunEventOut(4, message.KindRecord, &netmonv1.RunRecord{RunId: 4}), "r4-run-record", 0, message.FamilyRun},
	} {
		if c.out.ID != c.id {
			t.Errorf("%s: id %q, want %q", c.out.Subject, c.out.ID, c.id)
		}
		s, err := message.ParseSubject(c.out.Subject)
		if err != nil {
			t.Errorf("%s: %v", c.out.Subject, err)
			continue
		}
		if s.String() != c.out.Subject || s.Run != 4 || s.Family != c.family {
			t.Errorf("%s: parsed as %+v (%s)", c.out.Subject, s, s)
		}
		if want := c.family == message.FamilyRun && s.Kind() != message.KindRecord; s.IsRunEvent() != want {
			t.Errorf("%s: IsRunEvent %v", c.out.Subject, !want)
		}
		if sp, ok := s.SPID(); sp != c.sp || ok != (c.sp != 0) {
			t.Errorf("%s: SPID %d, %v; want %d", c.out.Subject, sp, ok, c.sp)
		}
		data, err := proto.Marshal(c.out.Msg)
		if err != nil {
			t.Fatal(err)
		}
		m, err := message.Decode(message.In{Subject: s, Data: data})
		if err != nil {
			t.Errorf("%s: %v", c.out.Subject, err)
			continue
		}
		if reflect.TypeOf(m) != reflect.TypeOf(c.out.Msg) || !proto.Equal(m, c.out.Msg) {
			t.Errorf("%s: decoded %T %v, want %T", c.out.Subject, m, m, c.out.Msg)
		}
	}
}

// TestDecodeRefuses: a subject without a message and a payload that does not decode are
// permanent; subjects outside the vocabulary do not parse.
func TestDecodeRefuses(t *testing.T) {
	for _, subject := range []string{"netmon.snapshot.4.unknown", "netmon.work.4.7.cid.extra", "netmon.result.4.7.nope"} {
		s, err := message.ParseSubject(subject)
		if err != nil {
			t.Fatalf("%s: %v", subject, err)
		}
		if _, err := message.Decode(message.In{Subject: s}); !message.IsPermanent(err) {
			t.Errorf("%s: Decode error %v, want a permanent one", subject, err)
		}
	}
	s, _ := message.ParseSubject("netmon.result.4.7")
	if _, err := message.Decode(message.In{Subject: s, Data: []byte{0xff, 0xff}}); !message.IsPermanent(err) {
		t.Errorf("garbage payload: Decode error %v, want a permanent one", err)
	}
	for _, subject := range []string{"netmon.result.4", "netmon.other.4.7", "netmon.work.x.7", "other.work.4.7", "netmon.work.0.7"} {
		if _, err := message.ParseSubject(subject); err == nil {
			t.Errorf("%s parsed", subject)
		}
	}
}
