package placement

import (
	"encoding/hex"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The spec's test vectors (audius-storage-v2.md §2.5). Expected values are copied from the spec,
// which took them from the upstream repositories' tests and reproduced them independently.

const (
	keyA = "baeaaaiqsedziwknj44jsl5fak6vcbszzjlnl7pqtw2ipnyg7rsh5a2xnql2p2"
	keyC = "QmP8Wuu1kN9iHBoBptB4UrTN3orna3Z6ZW2xevNkoE2y22"
	keyD = "baeaaaiqsedr3brcctd6byfe27p2mrglpxescplsb4rsjxe2muskzsg3ykk4fk"

	grassfed = "https://content.grassfed.network"
)

// vectorAHosts are the 69 hosts of TestRendezvous256, in the test's order (spec appendix).
func vectorAHosts(t testing.TB) []string {
	t.Helper()
	b, err := os.ReadFile("testdata/vector_a_hosts.txt")
	if err != nil {
		t.Fatal(err)
	}
	hosts := strings.Fields(string(b))
	if len(hosts) != 69 {
		t.Fatalf("testdata/vector_a_hosts.txt: %d hosts, want 69", len(hosts))
	}
	return hosts
}

func https(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "https://" + n
	}
	return out
}

func ring(t *testing.T, endpoints []string) *Ring {
	t.Helper()
	r, dropped := NewRing(endpoints)
	if len(dropped) != 0 {
		t.Fatalf("NewRing dropped %v", dropped)
	}
	return r
}

func TestVectorA(t *testing.T) {
	r := ring(t, vectorAHosts(t))
	want := https(
		"blockdaemon-audius-content-09.bdnodes.net",
		"cn4.mainnet.audiusindex.org",
		"audius-content-4.figment.io",
		"cn0.mainnet.audiusindex.org",
		"creatornode.audius3.prod-eks-ap-northeast-1.staked.cloud",
		"blockdaemon-audius-content-07.bdnodes.net",
	)
	rank := r.Rank(keyA)
	if len(rank) != 69 {
		t.Fatalf("Rank: %d hosts, want 69", len(rank))
	}
	if !slices.Equal(rank[:6], want) {
		t.Errorf("Rank(A)[:6] = %v, want %v", rank[:6], want)
	}
	if got := r.Top(keyA, 6); !slices.Equal(got, want) {
		t.Errorf("Top(A, 6) = %v, want %v", got, want)
	}
	// R=4 holders are the first four, R=3 the first three.
	if got := r.Holders(keyA, nil, Uniform(4)); !slices.Equal(got, want[:4]) {
		t.Errorf("Holders(A, R=4) = %v, want %v", got, want[:4])
	}
	if got := r.Holders(keyA, nil, Uniform(3)); !slices.Equal(got, want[:3]) {
		t.Errorf("Holders(A, R=3) = %v, want %v", got, want[:3])
	}
	// grassfed ranks 52nd, so dropping it changes no holder.
	if got := r.Position(keyA, grassfed); got != 51 {
		t.Errorf("Position(A, grassfed) = %d, want 51 (52nd)", got)
	}
	for i, h := range want {
		if got := r.Position(keyA, h); got != i {
			t.Errorf("Position(A, %s) = %d, want %d", h, got, i)
		}
	}
	// The digest prefixes the spec quotes for the first four.
	prefixes := []string{"03661eeb8c2c", "039d943a9cd4", "0416905527", "07851f0dd2c1"}
	for i, p := range prefixes {
		s := Score(want[i], keyA)
		if got := hex.EncodeToString(s[:]); !strings.HasPrefix(got, p) {
			t.Errorf("Score(%s, A) = %s, want prefix %s", want[i], got, p)
		}
	}
}

func TestVectorB(t *testing.T) {
	r := ring(t, []string{"a", "b", "c", "d", "e"})
	for _, c := range []struct{ key, order string }{
		{"", "dcbea"}, {"foo", "eacbd"}, {"bar", "badec"},
	} {
		want := strings.Split(c.order, "")
		if got := r.Rank(c.key); !slices.Equal(got, want) {
			t.Errorf("Rank(%q) = %v, want %v", c.key, got, want)
		}
		if got := r.Top(c.key, 1); !slices.Equal(got, want[:1]) {
			t.Errorf("Top(%q, 1) = %v, want get() = %v", c.key, got, want[:1])
		}
		for n := 0; n <= 6; n++ {
			if got := r.Top(c.key, n); !slices.Equal(got, want[:min(n, 5)]) {
				t.Errorf("Top(%q, %d) = %v, want %v", c.key, n, got, want[:min(n, 5)])
			}
		}
	}
}

// Example C: the legacy v0 CID over the same 69 hosts; GN keeps grassfed (rank 6), GO dropped it
// and rank 6 is audius8.
func TestVectorCLegacyKey(t *testing.T) {
	hosts := vectorAHosts(t)
	first6 := https(
		"audius.prod.capturealpha.io",
		"cn2.mainnet.audiusindex.org",
		"audius-content-11.figment.io",
		"blockchange-audius-content-03.bdnodes.net",
		"creatornode.audius.prod-eks-ap-northeast-1.staked.cloud",
		"audius-cn1.tikilabs.com",
	)
	gn := append(slices.Clone(first6), grassfed)
	if got := ring(t, hosts).Top(keyC, 7); !slices.Equal(got, gn) {
		t.Errorf("GN Top(C, 7) = %v, want %v", got, gn)
	}
	withoutGrassfed := slices.DeleteFunc(slices.Clone(hosts), func(h string) bool { return h == grassfed })
	gohosts := append(slices.Clone(first6), "https://creatornode.audius8.prod-eks-ap-northeast-1.staked.cloud")
	if got := ring(t, withoutGrassfed).Top(keyC, 7); !slices.Equal(got, gohosts) {
		t.Errorf("GO Top(C, 7) = %v, want %v", got, gohosts)
	}
}

// Example D: normalisation matters. With a trailing "/" on every host the ring strips it and the
// top 4 is the normalised one; ranked with the slashes (a client that forgot to normalise), the
// top 4 is completely different.
func TestVectorDNormalisation(t *testing.T) {
	hosts := vectorAHosts(t)
	want := https(
		"audius-content-5.cultur3stake.com",
		"audius-creator-1.theblueprint.xyz",
		"creatornode.audius2.prod-eks-ap-northeast-1.staked.cloud",
		"creatornode.audius1.prod-eks-ap-northeast-1.staked.cloud",
	)
	if got := ring(t, hosts).Top(keyD, 4); !slices.Equal(got, want) {
		t.Errorf("Top(D, 4) = %v, want %v", got, want)
	}
	slashed := make([]string, len(hosts))
	upper := make([]string, len(hosts))
	for i, h := range hosts {
		slashed[i] = h + "/"
		upper[i] = strings.ToUpper(h) + "/"
	}
	for _, in := range [][]string{slashed, upper} {
		if got := ring(t, in).Top(keyD, 4); !slices.Equal(got, want) {
			t.Errorf("Top(D, 4) over %s… = %v, want %v", in[0], got, want)
		}
	}
	unnormalised := &Ring{hosts: slashed, longest: 100}
	wrong := https(
		"audius-content-6.cultur3stake.com/",
		"creatornode.audius.co/",
		"audius-content-7.cultur3stake.com/",
		"audius-content-12.cultur3stake.com/",
	)
	if got := unnormalised.Top(keyD, 4); !slices.Equal(got, wrong) {
		t.Errorf("Top(D, 4) with the slashes kept = %v, want %v", got, wrong)
	}
}

func TestCandidates(t *testing.T) {
	in := []string{
		"HTTPS://Node1.Example.com/", // lower-cased, one "/" stripped
		"https://node2.example.com//",
		"https://node1.example.com", // duplicate of the first once normalised
		"",                          // a deregistered id
		"http://[::1",               // unparsable host
		"https://node3.example.com/%zz",
		":no-scheme",
		"https://node4.example.com",
		"https://NODE4.example.com/", // duplicate
		"https://node5.example.com\x7f",
	}
	hosts, dropped := Candidates(in)
	wantHosts := []string{"https://node1.example.com", "https://node2.example.com/", "https://node4.example.com"}
	if !slices.Equal(hosts, wantHosts) {
		t.Errorf("hosts = %q, want %q", hosts, wantHosts)
	}
	wantDropped := []Drop{
		{"https://node1.example.com", DropDuplicate},
		{"", DropEmpty},
		{"http://[::1", DropUnparsable},
		{"https://node3.example.com/%zz", DropUnparsable},
		{":no-scheme", DropUnparsable},
		{"https://NODE4.example.com/", DropDuplicate},
		{"https://node5.example.com\x7f", DropUnparsable},
	}
	if !slices.Equal(dropped, wantDropped) {
		t.Errorf("dropped = %q, want %q", dropped, wantDropped)
	}
}

func TestCandidatesOrderDoesNotMatter(t *testing.T) {
	hosts := vectorAHosts(t)
	reversed := slices.Clone(hosts)
	slices.Reverse(reversed)
	a, b := ring(t, hosts), ring(t, reversed)
	for _, k := range []string{keyA, keyC, keyD, "", "x"} {
		if ra, rb := a.Rank(k), b.Rank(k); !slices.Equal(ra, rb) {
			t.Errorf("Rank(%q) depends on the input order", k)
		}
	}
}

func TestTopAgreesWithRank(t *testing.T) {
	r := ring(t, vectorAHosts(t))
	for i := range 200 {
		key := "key-" + strconv.Itoa(i)
		rank := r.Rank(key)
		for _, n := range []int{1, 3, 4, 13, 69, 70} {
			if got := r.Top(key, n); !slices.Equal(got, rank[:min(n, 69)]) {
				t.Fatalf("Top(%q, %d) = %v, want Rank's prefix %v", key, n, got, rank[:min(n, 69)])
			}
		}
		for _, pos := range []int{0, 5, 68} {
			if got := r.Position(key, rank[pos]); got != pos {
				t.Fatalf("Position(%q, %s) = %d, want %d", key, rank[pos], got, pos)
			}
		}
	}
	if got := r.Position(keyA, "https://not-a-candidate"); got != -1 {
		t.Errorf("Position of a non-candidate = %d, want -1", got)
	}
	if got := r.Top(keyA, -1); got != nil {
		t.Errorf("Top(-1) = %v, want nil", got)
	}
}

// Ties (equal scores) are broken by host, ascending (HostTuples.Less). Distinct hosts of one key
// cannot be made to collide under SHA-256, so the rule is checked on the comparison itself.
func TestTieBreakByHost(t *testing.T) {
	var sum [32]byte
	a, b := scored{sum: sum, host: "https://a"}, scored{sum: sum, host: "https://b"}
	if !before(&a, &b) || before(&b, &a) {
		t.Error("equal scores: want the smaller host first")
	}
	low := scored{host: "https://z"}
	low.sum[31] = 0
	high := scored{host: "https://a"}
	high.sum[0] = 1
	if !before(&low, &high) {
		t.Error("want the smaller big-endian score first whatever the host")
	}
}

func TestHoldersMixedReplication(t *testing.T) {
	// Vector A's ranking: rank 0..5 as in TestVectorA.
	r := ring(t, vectorAHosts(t))
	top := https(
		"blockdaemon-audius-content-09.bdnodes.net",
		"cn4.mainnet.audiusindex.org",
		"audius-content-4.figment.io",
		"cn0.mainnet.audiusindex.org",
		"creatornode.audius3.prod-eks-ap-northeast-1.staked.cloud",
	)
	// Most nodes run R=4; rank 1 runs R=1 (not a holder at rank 1), rank 3 runs R=3 (not at rank
	// 3), rank 4 runs R=5 (a holder at rank 4).
	rep := Replication{Default: 4, Reported: map[string]int{top[1]: 1, top[3]: 3, top[4]: 5, top[0]: 0}}
	want := []string{top[0], top[2], top[4]}
	if got := r.Holders(keyA, nil, rep); !slices.Equal(got, want) {
		t.Errorf("Holders = %v, want %v", got, want)
	}
	if got := rep.Max(); got != 5 {
		t.Errorf("Max = %d, want 5", got)
	}
	if got := rep.Of(top[0]); got != 4 {
		t.Errorf("Of(a host reporting 0) = %d, want the default 4", got)
	}
}

func TestHoldersPlacementHosts(t *testing.T) {
	r := ring(t, vectorAHosts(t))
	placed := ParsePlacementHosts(" https://Audius-Content-1.figment.io/ ,https://cn1.stuffisup.com,,https://audius-content-1.figment.io,http://[::1")
	want := https("audius-content-1.figment.io", "cn1.stuffisup.com")
	if !slices.Equal(placed, want) {
		t.Fatalf("ParsePlacementHosts = %q, want %q", placed, want)
	}
	// Placement hosts are the holders, whatever R and the ranking say.
	if got := r.Holders(keyA, placed, Uniform(4)); !slices.Equal(got, want) {
		t.Errorf("Holders with placement hosts = %v, want %v", got, want)
	}
	for _, s := range []string{"", " ", ",,"} {
		if got := ParsePlacementHosts(s); got != nil {
			t.Errorf("ParsePlacementHosts(%q) = %q, want nil", s, got)
		}
	}
}

func TestConsensus(t *testing.T) {
	for _, c := range []struct {
		name      string
		reported  map[string]int
		r         int
		dissenter []string
	}{
		{"none", nil, 0, nil},
		{"agree", map[string]int{"a": 4, "b": 4}, 4, nil},
		{"majority", map[string]int{"a": 4, "b": 3, "c": 4, "d": 0}, 4, []string{"b"}},
		{"tie goes to the larger", map[string]int{"a": 3, "b": 4}, 4, []string{"a"}},
		{"three ways", map[string]int{"a": 3, "b": 5, "c": 3, "d": 4, "e": 5}, 5, []string{"a", "c", "d"}},
	} {
		r, d := Consensus(c.reported)
		if r != c.r || !slices.Equal(d, c.dissenter) {
			t.Errorf("%s: Consensus = %d %v, want %d %v", c.name, r, d, c.r, c.dissenter)
		}
	}
}
