package aggregator_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/audius-netmon/netmon/internal/aggregator"
	"github.com/audius-netmon/netmon/internal/store"
	"github.com/audius-netmon/netmon/internal/testenv"
)

// authPushgateway starts the real Pushgateway with basic auth (--web.config.file) for user and
// password, and returns its base URL.
func authPushgateway(t *testing.T, user, password string) string {
	t.Helper()
	bin, err := testenv.PushgatewayBinary()
	if err != nil {
		t.Fatal(err)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	web := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(web, []byte("basic_auth_users:\n  "+user+": "+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := testenv.FreeAddr(t)
	cmd := exec.Command(bin, "--web.listen-address="+addr, "--web.config.file="+web, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base := "http://" + addr
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pushgateway with basic auth not up: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPushBasicAuth: against a Pushgateway that requires basic auth, the aggregator's pusher
// gets in with NETMON_PUSH_GATEWAY_USERNAME/PASSWORD (or credentials in PUSH_GATEWAY_URL), is
// refused without them or with a wrong password, and never shows the password in its errors.
func TestPushBasicAuth(t *testing.T) {
	const user, password = "pusher", "push-pass-s3cr3t"
	base := authPushgateway(t, user, password)
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
