package aggregator

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/audius-netmon/netmon/internal/store"
)

// reference is the run of spec §14: six users, its intended results.
func reference() []store.Sample {
	return []store.Sample{
		{Name: "audius_nm_user_count", Value: 6},
		{Name: "audius_nm_fully_synced_user_count", Value: 2},
		{Name: "audius_nm_partially_synced_user_count", Value: 2},
		{Name: "audius_nm_unsynced_user_count", Value: 1},
		{Name: "audius_nm_no_primary_user_count", Value: 1},
		{Name: "audius_nm_users_with_all_foundation_node_replica_set", Value: 4},
		{Name: "audius_nm_users_with_no_foundation_node_replica_set", Value: 0},
		{Name: "audius_nm_unhealthy_replica_users_count", Value: 1},
		{Name: "audius_nm_missed_users_count", Labels: map[string]string{"endpoint": "", "sp_id": "4"}, Value: 1},
	}
}

// The report of spec §8 for spec §14: 33.33% / 33.33% / 16.67% / 16.67% / 66.67% / 0.00% / 16.67%.
const referenceReport = "```" + `{
  "fullySyncedUsersCount": "33.33%",
  "partiallySyncedUsersCount": "33.33%",
  "unsyncedUsersCount": "16.67%",
  "usersWithNullPrimaryClock": "16.67%",
  "usersWithAllFoundationNodeReplicaSetCount": "66.67%",
  "usersWithNoFoundationNodeReplicaSetCount": "0.00%",
  "usersWithUnhealthyReplica": "16.67%",
  "runDuration": "01hr 02min"
}` + "```"

func TestSlackMessage(t *testing.T) {
	created := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	now := created.Add(25*time.Hour + 2*time.Minute + 59*time.Second) // hours modulo 24, as the original
	if got := SlackMessage(reference(), created, now, "complete", ""); got != referenceReport {
		t.Errorf("report:\n%s\nwant:\n%s", got, referenceReport)
	}
	if got := SlackMessage([]store.Sample{{Name: "audius_nm_user_count", Value: 0}}, created, now, "complete", ""); got != "" {
		t.Errorf("a run without users gets a report: %q", got)
	}
	inc := SlackMessage(reference(), created, now, "incomplete", "deadline passed")
	var r map[string]string
	if err := json.Unmarshal([]byte(inc[3:len(inc)-3]), &r); err != nil {
		t.Fatal(err)
	}
	if r["runStatus"] != "incomplete: deadline passed" || r["fullySyncedUsersCount"] != "33.33%" {
		t.Errorf("incomplete run's report: %v", r)
	}
}

// TestSlackPost sends the report to a local receiver, as a Slack incoming webhook gets it.
func TestSlackPost(t *testing.T) {
	got := make(chan map[string]string, 2)
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s with Content-Type %q", r.Method, r.Header.Get("Content-Type"))
		}
		body, _ := io.ReadAll(r.Body)
		var m map[string]string
		if err := json.Unmarshal(body, &m); err != nil {
			t.Errorf("body %q: %v", body, err)
		}
		got <- m
		w.WriteHeader(status)
		io.WriteString(w, "invalid_token")
	}))
	defer srv.Close()
	s := NewSlack(srv.URL+"/services/T0/B0/s3cr3t", nil)
	if err := s.Post(context.Background(), referenceReport); err != nil {
		t.Fatal(err)
	}
	if m := <-got; len(m) != 1 || m["text"] != referenceReport {
		t.Errorf("received %v, want {text: the report}", m)
	}
	status = http.StatusForbidden
	err := s.Post(context.Background(), "x")
	if err == nil || !strings.Contains(err.Error(), "403") || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("a refused post: %v; want an error with the status and without the webhook URL", err)
	}
	<-got
	if err := NewSlack("", nil).Post(context.Background(), "x"); err != nil {
		t.Errorf("no webhook: %v", err)
	}
}
