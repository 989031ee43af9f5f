package aggregator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/store"
)

// Slack posts the end-of-run summary of spec §8 to an incoming webhook.
type Slack struct {
	url    string
	client *http.Client
}

// NewSlack returns a poster for the webhook url; nil when url is empty (no report).
func NewSlack(url string, client *http.Client) *Slack {
	if url == "" {
		return nil
	}
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &Slack{url: url, client: client}
}

// slackReport is the summary, keys in the original's order.
type slackReport struct {
	FullySynced     string `json:"fullySyncedUsersCount"`
	PartiallySynced string `json:"partiallySyncedUsersCount"`
	Unsynced        string `json:"unsyncedUsersCount"`
	NullPrimary     string `json:"usersWithNullPrimaryClock"`
	AllFoundation   string `json:"usersWithAllFoundationNodeReplicaSetCount"`
	NoFoundation    string `json:"usersWithNoFoundationNodeReplicaSetCount"`
	Unhealthy       string `json:"usersWithUnhealthyReplica"`
	RunDuration     string `json:"runDuration"`
	// RunStatus is netmon's addition, only for a run that did not complete.
	RunStatus string `json:"runStatus,omitempty"`
}

// SlackMessage is the report's text, or "" when the run has no users (the original sent nothing
// then): three backticks, the report as JSON indented by two spaces, three backticks. Each share
// is x / user_count * 100 with two decimals and "%"; runDuration is the time since the run's start
// as HHhr MMmin, hours modulo 24, as the original wrote it. status and reason are added for a run
// that did not complete.
func SlackMessage(samples []store.Sample, created, now time.Time, status lifecycle.Status, reason string) string {
	v := map[string]float64{}
	for _, s := range samples {
		if len(s.Labels) == 0 {
			v[s.Name] = s.Value
		}
	}
	users := v["audius_nm_user_count"]
	if users <= 0 {
		return ""
	}
	share := func(name string) string { return fmt.Sprintf("%.2f%%", v[name]/users*100) }
	d := now.Sub(created)
	r := slackReport{
		FullySynced:     share("audius_nm_fully_synced_user_count"),
		PartiallySynced: share("audius_nm_partially_synced_user_count"),
		Unsynced:        share("audius_nm_unsynced_user_count"),
		NullPrimary:     share("audius_nm_no_primary_user_count"),
		AllFoundation:   share("audius_nm_users_with_all_foundation_node_replica_set"),
		NoFoundation:    share("audius_nm_users_with_no_foundation_node_replica_set"),
		Unhealthy:       share("audius_nm_unhealthy_replica_users_count"),
		RunDuration:     fmt.Sprintf("%02dhr %02dmin", int(d.Hours())%24, int(d.Minutes())%60),
	}
	if status != lifecycle.Complete {
		r.RunStatus = strings.TrimSuffix(string(status)+": "+reason, ": ")
	}
	body, _ := json.MarshalIndent(r, "", "  ")
	return "```" + string(body) + "```"
}

// Post sends text as {"text": text}. An empty text sends nothing.
func (s *Slack) Post(ctx context.Context, text string) error {
	if s == nil || text == "" {
		return nil
	}
	body, _ := json.Marshal(map[string]string{"text": text})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("slack: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		// The webhook URL is a secret: keep it out of the error.
		return fmt.Errorf("slack: post failed (%T)", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		head, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return fmt.Errorf("slack: HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(head)))
	}
	return nil
}
