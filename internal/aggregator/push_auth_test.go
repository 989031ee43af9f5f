package aggregator_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/audius-netmon/netmon/internal/aggregator"
	"github.com/audius-netmon/netmon/internal/store"
	"github.com/audius-netmon/netmon/internal/testenv"
)

// TestPushBasicAuth: against a Pushgateway that requires basic auth, the aggregator's pusher
// gets in with NETMON_PUSH_GATEWAY_USERNAME/PASSWORD (or credentials in PUSH_GATEWAY_URL), is
// refused without them or with a wrong password, and never shows the password in its errors.
func TestPushBasicAuth(t *testing.T) {
	const user, password = "pusher", "push-pass-s3cr3t"
	base := testenv.PushgatewayWithAuth(t, user, password)
	samples := []store.Sample{{Name: "audius_nm_user_count", Value: 42}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if err := aggregator.NewPusher(base, "network-monitoring", false, nil).WithBasicAuth(user, password).Push(ctx, 1, samples); err != nil {
		t.Fatalf("push with basic auth: %v", err)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	req.SetBasicAuth(user, password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `audius_nm_user_count{instance="",job="network-monitoring"} 42`) {
		t.Errorf("the pushed series is not on the Pushgateway:\n%.2000s", body)
	}

	withURL := strings.Replace(base, "http://", "http://"+user+":"+password+"@", 1)
	if err := aggregator.NewPusher(withURL, "network-monitoring", false, nil).Push(ctx, 2, samples); err != nil {
		t.Errorf("push with credentials in the URL: %v", err)
	}
	for name, p := range map[string]*aggregator.Pusher{
		"no credentials": aggregator.NewPusher(base, "network-monitoring", false, nil),
		"wrong password": aggregator.NewPusher(base, "network-monitoring", false, nil).WithBasicAuth(user, "wrong-s3cr3t"),
		"wrong password in the URL": aggregator.NewPusher(strings.Replace(base, "http://", "http://"+user+":wrong-s3cr3t@", 1),
			"network-monitoring", false, nil),
	} {
		err := p.Push(ctx, 3, samples)
		if err == nil {
			t.Errorf("%s: push accepted", name)
			continue
		}
		if !strings.Contains(err.Error(), "401") {
			t.Errorf("%s: error %q does not say 401", name, err)
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s: error shows the password: %q", name, err)
		}
	}
}
