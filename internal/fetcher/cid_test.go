package fetcher

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// cidNode answers the CID routes like a content node holding files (plain route) and image
// directories (image route); the CID "left-out" is never listed, and fail500 requests fail first.
func cidNode(t *testing.T, files, dirs map[string]bool, fail500 int32) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= fail500 {
			writeJSON(w, 500, map[string]string{"error": "boom"})
			return
		}
		var req struct {
			CIDs []string `json:"cids"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.CIDs) > 500 {
			writeJSON(w, 400, map[string]string{"error": "bad"})
			return
		}
		held := files
		if r.URL.Path == "/batch_image_cids_exist" {
			held = dirs
		} else if r.URL.Path != "/batch_cids_exist" {
			http.NotFound(w, r)
			return
		}
		type entry struct {
			CID    string `json:"cid"`
			Exists bool   `json:"exists"`
		}
		out := []entry{}
		for _, c := range req.CIDs {
			if c != "left-out" {
				out = append(out, entry{c, held[c]})
			}
		}
		writeJSON(w, 200, map[string]any{"data": map[string]any{"cids": out}})
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func cidItem(endpoint string, route netmonv1.CIDRoute, cids ...string) *netmonv1.CIDWorkItem {
	return &netmonv1.CIDWorkItem{RunId: 42, SpId: 3, Endpoint: endpoint, Route: route, Batch: 2, Cids: cids}
}

func TestFetchCIDs(t *testing.T) {
	const (
		present = netmonv1.CIDState_CID_STATE_PRESENT
		absent  = netmonv1.CIDState_CID_STATE_ABSENT
		none    = netmonv1.CIDState_CID_STATE_NOT_ANSWERED
	)
	srv, _ := cidNode(t, map[string]bool{"Qfile": true, "Qdir": true}, map[string]bool{"Qdir": true}, 0)
	f, reg := newFetcher(t, Options{Deregistered: []string{"http://gone.example"}})

	// The plain route finds any file, the image route only directories: the route is the item's.
	res, err := f.FetchCIDs(t.Context(), cidItem(srv.URL, netmonv1.CIDRoute_CID_ROUTE_CIDS, "Qfile", "Qnope", "left-out"))
	if err != nil {
		t.Fatal(err)
	}
	if res.GetOutcome() != netmonv1.Outcome_OUTCOME_OK || res.GetMissing() != 1 || res.GetAttempts() != 1 {
		t.Errorf("plain route: outcome %s, missing %d, attempts %d; want ok, 1, 1", res.GetOutcome(), res.GetMissing(), res.GetAttempts())
	}
	if d := cmp.Diff([]netmonv1.CIDState{present, absent, none}, res.GetStates()); d != "" {
		t.Errorf("plain route states (-want +got):\n%s", d)
	}
	if res.GetRoute() != netmonv1.CIDRoute_CID_ROUTE_CIDS || res.GetBatch() != 2 || res.GetSpId() != 3 {
		t.Errorf("result does not name its item: %v", res)
	}
	res, _ = f.FetchCIDs(t.Context(), cidItem(srv.URL, netmonv1.CIDRoute_CID_ROUTE_IMAGES, "Qfile", "Qdir"))
	if d := cmp.Diff([]netmonv1.CIDState{absent, present}, res.GetStates()); d != "" {
		t.Errorf("image route states (-want +got):\n%s", d)
	}

	// Skipped nodes and failures leave every CID not answered.
	res, _ = f.FetchCIDs(t.Context(), cidItem("http://gone.example", netmonv1.CIDRoute_CID_ROUTE_CIDS, "Qfile"))
	if res.GetOutcome() != netmonv1.Outcome_OUTCOME_SKIPPED_DEREGISTERED || res.GetStates()[0] != none || res.GetAttempts() != 0 {
		t.Errorf("deregistered: %v", res)
	}
	res, _ = f.FetchCIDs(t.Context(), cidItem("", netmonv1.CIDRoute_CID_ROUTE_CIDS, "Qfile"))
	if res.GetOutcome() != netmonv1.Outcome_OUTCOME_SKIPPED_NO_ENDPOINT {
		t.Errorf("no endpoint: %v", res)
	}

	if got := metricValue(t, reg, "netmon_fetcher_cids_total",
		map[string]string{"sp_id": "3", "endpoint": srv.URL, "kind": "cid", "outcome": "missing"}); got != 1 {
		t.Errorf("netmon_fetcher_cids_total{outcome=missing} = %v, want 1", got)
	}
	if got := metricValue(t, reg, "netmon_fetcher_items_total",
		map[string]string{"sp_id": "3", "endpoint": srv.URL, "kind": "image_cid", "outcome": "ok"}); got != 1 {
		t.Errorf("netmon_fetcher_items_total{kind=image_cid,outcome=ok} = %v, want 1", got)
	}
}

func TestFetchCIDsRetriesAndBreaker(t *testing.T) {
	srv, n := cidNode(t, map[string]bool{"Qfile": true}, nil, 2)
	f, _ := newFetcher(t, Options{Attempts: 3, BreakerFailures: 1})
	res, err := f.FetchCIDs(t.Context(), cidItem(srv.URL, netmonv1.CIDRoute_CID_ROUTE_CIDS, "Qfile"))
	if err != nil {
		t.Fatal(err)
	}
	if res.GetOutcome() != netmonv1.Outcome_OUTCOME_OK || res.GetAttempts() != 3 || n.Load() != 3 {
		t.Fatalf("two 500s then an answer: outcome %s after %d attempts (%d requests), want ok after 3", res.GetOutcome(), res.GetAttempts(), n.Load())
	}

	down, _ := cidNode(t, nil, nil, 1000)
	f, _ = newFetcher(t, Options{Attempts: 2, BreakerFailures: 1})
	res, _ = f.FetchCIDs(t.Context(), cidItem(down.URL, netmonv1.CIDRoute_CID_ROUTE_CIDS, "Qa", "Qb"))
	if res.GetOutcome() != netmonv1.Outcome_OUTCOME_HTTP_ERROR || res.GetHttpStatus() != 500 {
		t.Errorf("failing node: outcome %s status %d, want http_error 500", res.GetOutcome(), res.GetHttpStatus())
	}
	for _, s := range res.GetStates() {
		if s != netmonv1.CIDState_CID_STATE_NOT_ANSWERED {
			t.Errorf("failing node: state %s, want NOT_ANSWERED", s)
		}
	}
	// The breaker is the node's, shared with its clock items.
	clock := handle(t, f, workItem(down.URL, "0xa"))
	if clock.GetOutcome() != netmonv1.Outcome_OUTCOME_CIRCUIT_OPEN {
		t.Errorf("clock item after a failed CID item with BreakerFailures 1: %s, want circuit_open", clock.GetOutcome())
	}
	p := PoisonCIDs(cidItem(down.URL, netmonv1.CIDRoute_CID_ROUTE_IMAGES, "Qa"), "gave up")
	if p.GetOutcome() != netmonv1.Outcome_OUTCOME_POISON || p.GetStates()[0] != netmonv1.CIDState_CID_STATE_NOT_ANSWERED {
		t.Errorf("poison: %v", p)
	}
}
