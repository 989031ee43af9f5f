package bench

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/audius-netmon/netmon/internal/simnet"
	"github.com/audius-netmon/netmon/internal/store"
)

// StorageFacts are what a storage run (Spec.StorageKeys) did beyond the shared measures.
type StorageFacts struct {
	Population int64 // distinct keys the run listed (audius_nm_storage_keys_population)
	Sampled    int64 // keys it checked (audius_nm_storage_keys_sampled)
	WorkItems  int64 // the manifest's work items (probe batches and health reads)
	// Requests each node received during the run (probes, health reads and upload-list pages)
	// and its probes (blob-info requests), each ascending.
	Requests, Probes []int64
}

// storageSeeded is a started simulated storage network, its registry and its seeded discovery
// database.
type storageSeeded struct {
	net      *simnet.StorageNetwork
	nodes    *simnet.StorageNodes
	registry *simnet.Registry
}

// storageScenario is a network of spec.Nodes nodes (a tenth of them validators) whose entities
// make about spec.StorageKeys keys, in the proportions of simnet's BenchmarkStorage10M (3M
// tracks, 1.5M users, 300k playlists and 60k orphan uploads make about 10M keys).
func storageScenario(spec Spec) simnet.StorageScenario {
	k := spec.StorageKeys
	return simnet.StorageScenario{Seed: 1, NodeCount: spec.Nodes, Validators: spec.Nodes / 10,
		Tracks: k * 3 / 10, Users: k * 3 / 20, Playlists: k * 3 / 100, OrphanUploads: k * 6 / 1000}
}

// seedStorage builds, starts and seeds the storage network of spec; it returns the discovery
// database's URL.
func seedStorage(ctx context.Context, admin string, spec Spec) (*storageSeeded, string, error) {
	network, err := simnet.BuildStorage(storageScenario(spec))
	if err != nil {
		return nil, "", err
	}
	// The nodes outlive this run's context: the next run may reuse them.
	nodes, err := network.Start(context.WithoutCancel(ctx))
	if err != nil {
		return nil, "", err
	}
	s := &storageSeeded{net: network, nodes: nodes}
	if s.registry, err = network.StartRegistry(context.WithoutCancel(ctx)); err != nil {
		s.close()
		return nil, "", err
	}
	discovery, err := store.CreateDatabase(ctx, admin, "netmon_bench_discovery", true)
	if err == nil {
		err = network.SeedDiscovery(ctx, discovery)
	}
	if err != nil {
		s.close()
		return nil, "", err
	}
	return s, discovery, nil
}

func (s *storageSeeded) close() {
	s.nodes.Close()
	if s.registry != nil {
		s.registry.Close()
	}
}

// env is what the stages need for storage runs over this network (nodes from its registry; the
// legacy run's nodes from discovery, which names none).
func (s *storageSeeded) env() []string {
	return []string{"NETMON_CONTENT_NODES_SOURCE=discovery", "ETH_PROVIDER_URL=" + s.registry.URL,
		"ETH_REGISTRY_ADDRESS=" + simnet.RegistryAddress, fmt.Sprintf("NETMON_STORAGE_DEFAULT_R=%d", s.net.R())}
}

// stats are what each node has received so far, by node id.
func (s *storageSeeded) stats() []simnet.StorageStats {
	ids := s.net.NodeIDs()
	out := make([]simnet.StorageStats, len(ids))
	for i, id := range ids {
		out[i] = s.nodes.Stats(id)
	}
	return out
}

// facts fills res.Storage and checks the stored series that count keys against simnet's truth
// of the keys the run sampled (simnet.StorageTruth.CountSamples).
func (s *storageSeeded) facts(ctx context.Context, st *store.Store, nmDB string, run int64, before []simnet.StorageStats, res *Result) error {
	f := &StorageFacts{}
	res.Storage = f
	for i, n := range s.stats() {
		f.Requests = append(f.Requests, n.Requests-before[i].Requests)
		f.Probes = append(f.Probes, n.BlobInfo-before[i].BlobInfo)
	}
	slices.Sort(f.Requests)
	slices.Sort(f.Probes)
	rr, err := st.GetRun(ctx, run)
	if err != nil {
		return err
	}
	if rr.ExpectedItems != nil {
		f.WorkItems = *rr.ExpectedItems
	}
	conn, err := pgx.Connect(ctx, nmDB)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT key FROM storage_keys WHERE run_id = $1", run)
	if err != nil {
		return err
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("sampled keys of run %d: %w", run, err)
	}
	samples, err := st.Samples(ctx, run)
	if err != nil {
		return err
	}
	ids := map[string]string{} // host → the run's node id, from the series themselves
	for _, smp := range samples {
		switch smp.Name {
		case "audius_nm_storage_node_up":
			ids[smp.Labels["endpoint"]] = smp.Labels["sp_id"]
		case "audius_nm_storage_keys_population":
			f.Population = int64(smp.Value)
		case "audius_nm_storage_keys_sampled":
			f.Sampled = int64(smp.Value)
		}
	}
	truth := s.net.StorageTruth(s.nodes, keys)
	for _, nt := range truth.Nodes {
		if _, ok := ids[nt.Host]; nt.Registered && !ok {
			// A registered node without series: its counts cannot match.
			res.TruthSeries++
			res.TruthMismatch++
		}
	}
	return compareTruth(ctx, st, run, truth.CountSamples(ids), res)
}
