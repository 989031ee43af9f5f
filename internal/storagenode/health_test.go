package storagenode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/audius-netmon/netmon/internal/contentnode"
	"github.com/audius-netmon/netmon/internal/signing"
)

// Keys of the well-known Hardhat test accounts 0 and 1.
const (
	key0  = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
	addr0 = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
	key1  = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
	addr1 = "0x70997970c51812dc3a79c16aee0a2f9faf3bbfd9"
)

func signer(t testing.TB, key string) *signing.Signer {
	t.Helper()
	s, err := signing.NewSigner(0, key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// encodingJSON is how the tests canonicalise, independently of jcs.go: encoding/json sorts map
// keys and, without HTML escaping, writes these ASCII values exactly as RFC 8785 does.
func encodingJSON(t testing.TB, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// storageData is a node's HealthData as GN marshals it (every field the spec lists).
func storageData() map[string]any {
	repair := map[string]any{
		"StartedAt": "2026-05-04T10:00:00.123456789Z", "UpdatedAt": "2026-05-04T10:20:00Z",
		"FinishedAt": "2026-05-04T10:20:00Z", "CleanupMode": false, "CursorI": 3,
		"CursorUploadID": "01J0000000000000000000000", "CursorPreviewCID": "", "CursorQmCID": "Qmz",
		"Counters":    map[string]any{"total_checked": 1200, "pull_mine_needed": 7, "pull_mine_success": 6, "already_have": 1193},
		"ContentSize": 123456789, "Duration": 1200000000000, "AbortedReason": "",
	}
	cleanup := map[string]any{
		"StartedAt": "2026-05-04T07:00:00Z", "UpdatedAt": "2026-05-04T07:40:00Z",
		"FinishedAt": "2026-05-04T07:40:00Z", "CleanupMode": true, "CursorI": 1,
		"CursorUploadID": "", "CursorPreviewCID": "", "CursorQmCID": "",
		"Counters":    map[string]any{"total_checked": 90000, "delete_over_replicated_needed": 12, "pull_mine_needed": 3},
		"ContentSize": 9999, "Duration": 2400000000000, "AbortedReason": "DISK_FULL",
	}
	return map[string]any{
		"healthy": true, "version": "1.2.12", "service": "validator", "isSeeding": false,
		"isAudiusdManaged": true, "builtAt": "", "startedAt": "2026-05-01T00:00:00Z", "spID": 7,
		"spOwnerWallet": "0x1111111111111111111111111111111111111111", "git": "82fa412",
		"audiusDockerCompose": "", "mediorumPathUsed": 800000000000, "mediorumPathSize": 4000000000000,
		"storageExpectation": 600000000000, "databaseSize": 5000000000, "dbSizeErr": "",
		"lastSuccessfulRepair": repair, "lastSuccessfulCleanup": cleanup, "uploadsCount": 4321,
		"uploadsCountErr": "", "autoUpgradeEnabled": true, "trustedNotifier": nil, "env": "prod",
		"self":                 map[string]any{"host": "https://node7.example.com", "wallet": addr0},
		"wallet_is_registered": true, "signers": []any{}, "replicationFactor": 4, "dir": "/data",
		"blobStorePrefix": "file", "moveFromBlobStorePrefix": "", "listenPort": "1991",
		"trustedNotifierId": 0,
		"peerHealths": map[string]any{
			"https://node2.example.com": map[string]any{"version": "1.2.12", "lastReachable": "2026-05-04T10:29:00Z", "lastHealthy": "2026-05-04T10:29:00Z", "reachablePeers": nil},
			"https://node1.example.com": map[string]any{"version": "1.2.11", "lastReachable": "2026-05-04T10:29:30Z", "lastHealthy": "2026-05-04T10:29:30Z", "reachablePeers": nil},
		},
		"unreachablePeers": []any{"https://node3.example.com"}, "failsPeerReachability": false,
		"storeAll": false, "isDbLocalhost": true, "diskHasSpace": true, "isDiscoveryListensEnabled": false,
		"transcodeQueueLength": 0, "transcodeStats": nil,
	}
}

// aggregatedBody is GN's /health_check: the whole object signed, then signature and signer added.
func aggregatedBody(t testing.TB, s *signing.Signer, storage map[string]any, tamper func(map[string]any)) []byte {
	t.Helper()
	top := map[string]any{
		"git": "82fa412", "hostname": "node7.example.com", "timestamp": "2026-05-04T10:30:00.5Z",
		"uptime": "72h0m0s", "storage": storage,
		"data": map[string]any{"version": "1.2.12", "diskHasSpace": storage["diskHasSpace"]},
		"core": map[string]any{"live": true, "ready": true, "chain_info": map[string]any{"current_height": 123456}},
	}
	top["signature"] = s.SignBytes(encodingJSON(t, top))
	top["signer"] = s.Address()
	if tamper != nil {
		tamper(top)
	}
	return reversed(t, encodingJSON(t, top))
}

// reversed writes the JSON value b with every object's members in reverse order and spaces
// between tokens: nodes need not send the canonical form, the verifier rebuilds it.
func reversed(t testing.TB, b []byte) []byte {
	t.Helper()
	v, err := parseJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	var write func(v jsonValue)
	write = func(v jsonValue) {
		switch v := v.(type) {
		case *jsonObject:
			out.WriteString("{ ")
			for i := len(v.members) - 1; i >= 0; i-- {
				k, _ := json.Marshal(v.members[i].name)
				out.Write(k)
				out.WriteString(" : ")
				write(v.members[i].value)
				if i > 0 {
					out.WriteString(" ,\n")
				}
			}
			out.WriteString(" }")
		case []jsonValue:
			out.WriteString("[ ")
			for i, e := range v {
				if i > 0 {
					out.WriteString(", ")
				}
				write(e)
			}
			out.WriteString(" ]")
		default:
			x, _ := json.Marshal(v)
			out.Write(x)
		}
	}
	write(v)
	return out.Bytes()
}

// mediorumBody is mediorum's /health_check: data alone signed.
func mediorumBody(t testing.TB, s *signing.Signer, data map[string]any, tamper func(map[string]any)) []byte {
	t.Helper()
	top := map[string]any{
		"data": data, "signer": s.Address(), "signature": s.SignBytes(encodingJSON(t, data)),
		"timestamp": "2026-05-04T10:30:00.5Z",
	}
	if tamper != nil {
		tamper(top)
	}
	return reversed(t, encodingJSON(t, top))
}

func TestDecodeHealthAggregated(t *testing.T) {
	h, err := DecodeHealth(200, aggregatedBody(t, signer(t, key0), storageData(), nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Health{
		Format: Aggregated, HTTPStatus: 200, Healthy: true, Version: "1.2.12", Service: "validator",
		SPID: 7, ReplicationFactor: 4, WalletIsRegistered: true, DiskHasSpace: true,
		Self:      Peer{Host: "https://node7.example.com", Wallet: addr0},
		StartedAt: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC),
		LastRepair: RepairRun{
			StartedAt:   time.Date(2026, 5, 4, 10, 0, 0, 123456789, time.UTC),
			UpdatedAt:   time.Date(2026, 5, 4, 10, 20, 0, 0, time.UTC),
			FinishedAt:  time.Date(2026, 5, 4, 10, 20, 0, 0, time.UTC),
			Counters:    map[string]int64{"total_checked": 1200, "pull_mine_needed": 7, "pull_mine_success": 6, "already_have": 1193},
			ContentSize: 123456789, Duration: 20 * time.Minute,
		},
		LastCleanup: RepairRun{
			StartedAt:  time.Date(2026, 5, 4, 7, 0, 0, 0, time.UTC),
			UpdatedAt:  time.Date(2026, 5, 4, 7, 40, 0, 0, time.UTC),
			FinishedAt: time.Date(2026, 5, 4, 7, 40, 0, 0, time.UTC), CleanupMode: true,
			Counters:    map[string]int64{"total_checked": 90000, "delete_over_replicated_needed": 12, "pull_mine_needed": 3},
			ContentSize: 9999, Duration: 40 * time.Minute, AbortedReason: "DISK_FULL",
		},
		UnreachablePeers:   []string{"https://node3.example.com"},
		PeerHosts:          []string{"https://node1.example.com", "https://node2.example.com"},
		MediorumPathUsed:   800000000000,
		MediorumPathSize:   4000000000000,
		StorageExpectation: 600000000000,
		DatabaseSize:       5000000000,
		UploadsCount:       4321,
		Timestamp:          time.Date(2026, 5, 4, 10, 30, 0, 500000000, time.UTC),
		Signer:             addr0,
		Recovered:          addr0,
	}
	if diff := healthDiff(h, want); diff != "" {
		t.Error(diff)
	}
	if got := h.LastRepair.PullMineNeeded(); got != 7 {
		t.Errorf("LastRepair.PullMineNeeded = %d, want 7", got)
	}
	if got := h.LastCleanup.DeleteOverReplicatedNeeded(); got != 12 {
		t.Errorf("LastCleanup.DeleteOverReplicatedNeeded = %d, want 12", got)
	}
	if got := h.VerifySignature(strings.ToUpper(addr0[:2]) + strings.ToUpper(addr0[2:])); got != SignatureValid {
		t.Errorf("VerifySignature(registered delegate, upper case) = %v, want valid", got)
	}
}

func TestDecodeHealthMediorum(t *testing.T) {
	data := storageData()
	data["healthy"] = false
	data["wallet_is_registered"] = false
	data["replicationFactor"] = 3
	data["version"] = "1.0.0"
	body := mediorumBody(t, signer(t, key0), data, func(top map[string]any) {
		top["error"] = "wallet not registered for provided endpoint"
	})
	h, err := DecodeHealth(506, body)
	if err != nil {
		t.Fatal(err)
	}
	if h.Format != Mediorum || h.HTTPStatus != 506 || h.Healthy || h.WalletIsRegistered || h.ReplicationFactor != 3 ||
		h.Version != "1.0.0" || h.Error != "wallet not registered for provided endpoint" || h.SPID != 7 {
		t.Errorf("decoded %+v", h)
	}
	if got := h.VerifySignature(addr0); got != SignatureValid {
		t.Errorf("VerifySignature = %v, want valid", got)
	}
}

func TestDecodeHealthStorageDisabled(t *testing.T) {
	for _, c := range []struct {
		storage map[string]any
		want    string
	}{
		{map[string]any{"enabled": false}, "disabled"},
		{map[string]any{"enabled": true, "error": "mediorum not started"}, "mediorum not started"},
	} {
		h, err := DecodeHealth(200, aggregatedBody(t, signer(t, key0), c.storage, nil))
		if err != nil {
			t.Fatal(err)
		}
		if h.Format != Aggregated || h.StorageError != c.want || h.Healthy || h.ReplicationFactor != 0 {
			t.Errorf("storage %v: decoded %+v", c.storage, h)
		}
		if got := h.VerifySignature(addr0); got != SignatureValid {
			t.Errorf("storage %v: VerifySignature = %v, want valid", c.storage, got)
		}
	}
}

func TestVerifySignature(t *testing.T) {
	s0, s1 := signer(t, key0), signer(t, key1)
	for _, c := range []struct {
		name     string
		body     []byte
		delegate string
		want     SignatureStatus
	}{
		{"valid", aggregatedBody(t, s0, storageData(), nil), addr0, SignatureValid},
		{"valid, mediorum", mediorumBody(t, s0, storageData(), nil), addr0, SignatureValid},
		{"another registered wallet", aggregatedBody(t, s1, storageData(), nil), addr0, SignatureWrongSigner},
		{"no delegate known", aggregatedBody(t, s0, storageData(), nil), "", SignatureNoDelegate},
		{"altered after signing", aggregatedBody(t, s0, storageData(), func(top map[string]any) {
			top["storage"].(map[string]any)["replicationFactor"] = 3
		}), addr0, SignatureMismatch},
		{"altered outside data, mediorum", mediorumBody(t, s0, storageData(), func(top map[string]any) {
			top["timestamp"] = "2030-01-01T00:00:00Z" // not signed in this format
		}), addr0, SignatureValid},
		{"claims another signer", aggregatedBody(t, s1, storageData(), func(top map[string]any) {
			top["signer"] = addr0
		}), addr0, SignatureMismatch},
		{"no signature", aggregatedBody(t, s0, storageData(), func(top map[string]any) {
			delete(top, "signature")
		}), addr0, SignatureUnsigned},
		{"no key on the node", mediorumBody(t, s0, storageData(), func(top map[string]any) {
			top["signature"] = noKeySignature
		}), addr0, SignatureUnsigned},
		{"v + 27", aggregatedBody(t, s0, storageData(), func(top map[string]any) {
			sig := top["signature"].(string)
			top["signature"] = sig[:130] + map[string]string{"00": "1b", "01": "1c"}[sig[130:]]
		}), addr0, SignatureMalformed},
		{"short", aggregatedBody(t, s0, storageData(), func(top map[string]any) {
			top["signature"] = top["signature"].(string)[:100]
		}), addr0, SignatureMalformed},
		{"not a string", aggregatedBody(t, s0, storageData(), func(top map[string]any) {
			top["signature"] = 12
		}), addr0, SignatureMalformed},
		{"r of zeros", aggregatedBody(t, s0, storageData(), func(top map[string]any) {
			top["signature"] = "0x" + strings.Repeat("0", 128) + "00"
		}), addr0, SignatureMalformed},
	} {
		h, err := DecodeHealth(200, c.body)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got := h.VerifySignature(c.delegate); got != c.want {
			t.Errorf("%s: VerifySignature = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestDecodeHealthRejects(t *testing.T) {
	for _, c := range []struct {
		status  int
		body    string
		status2 bool // an undefined-status error rather than a bad response
	}{
		{200, `{"data":{"healthy":true}}`, false},             // a legacy content node: no replicationFactor
		{200, `{"git":"x"}`, false},                           // neither
		{200, `[]`, false},                                    // not an object
		{200, `{"storage":{"replicationFactor":"4"}}`, false}, // wrong type
		{200, `{"storage":{},"storage":{}}`, false},           // repeated member
		{200, `{"data":{"replicationFactor":3},"timestamp":"now"}`, false},
		{503, `database not healthy`, true},
		{500, `{"error":"Failed to sign health check response"}`, true},
		{404, `{"message":"Not Found"}`, true},
	} {
		_, err := DecodeHealth(c.status, []byte(c.body))
		if err == nil {
			t.Errorf("%d %s: no error", c.status, c.body)
		} else if errors.Is(err, errStatus) != c.status2 {
			t.Errorf("%d %s: error %v", c.status, c.body, err)
		}
	}
}

func TestHealthOverHTTP(t *testing.T) {
	body := aggregatedBody(t, signer(t, key0), storageData(), nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case PathHealthCheck:
			w.Header().Set("Content-Type", "application/json")
			w.Write(body)
		default:
			http.Error(w, `{"error":"boom"}`, http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	var c Client
	h, err := c.Health(context.Background(), srv.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	if h.ReplicationFactor != 4 || h.VerifySignature(addr0) != SignatureValid {
		t.Errorf("Health = %+v", h)
	}
	_, err = c.Health(context.Background(), srv.URL+"/broken")
	var ce *contentnode.Error
	if !errors.As(err, &ce) || ce.Reason != contentnode.HTTPStatus || ce.Status != 500 || !strings.Contains(err.Error(), "boom") {
		t.Errorf("Health of a 500 = %v, want an HTTP status error with the body's text", err)
	}
}

// healthDiff compares field by field with readable output.
func healthDiff(got, want Health) string {
	g, _ := json.MarshalIndent(got, "", " ")
	w, _ := json.MarshalIndent(want, "", " ")
	if bytes.Equal(g, w) {
		return ""
	}
	gl, wl := strings.Split(string(g), "\n"), strings.Split(string(w), "\n")
	var out []string
	for i := range max(len(gl), len(wl)) {
		var a, b string
		if i < len(gl) {
			a = gl[i]
		}
		if i < len(wl) {
			b = wl[i]
		}
		if a != b {
			out = append(out, "got  "+a, "want "+b)
		}
	}
	return "Health differs:\n" + strings.Join(slices.Compact(out), "\n")
}
