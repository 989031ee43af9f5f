package cli

import (
	"context"
	"fmt"
	"math"

	"github.com/rs/zerolog"

	"github.com/audius-netmon/netmon/internal/config"
	"github.com/audius-netmon/netmon/internal/lifecycle"
	"github.com/audius-netmon/netmon/internal/simnet"
	"github.com/audius-netmon/netmon/internal/store"
	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// storageDemoScenario is a small storage-v2 network with a fault of each common kind.
func storageDemoScenario(seed int64) simnet.StorageScenario {
	return simnet.StorageScenario{Seed: seed, NodeCount: 10, Validators: 2, Tracks: 300, Users: 100, Playlists: 20,
		Nodes: []simnet.StorageNodeSpec{
			{ID: 2, Faults: simnet.StorageFaults{Down: true}},
			{ID: 3, Faults: simnet.StorageFaults{DBDown: true}},
			{ID: 4, Faults: simnet.StorageFaults{MissingShare: 0.3}},
			{ID: 5, Faults: simnet.StorageFaults{ExtraShare: 0.2, Signature: simnet.SigMismatch}},
			{ID: 6, R: 3, Format: simnet.FormatMediorum},
		}}
}

// storageDemo is the demo's storage network.
type storageDemo struct {
	net   *simnet.StorageNetwork
	nodes *simnet.StorageNodes
	reg   *simnet.Registry // nil when the storage nodes are a static list
}

// startStorageDemo starts the simulated storage network and points cfg's storage runs at it: the
// simulated registry (unless the clocks run reads its own registry: then a static list, without
// delegate wallets), keys from the nodes' upload lists, every key checked.
func startStorageDemo(ctx context.Context, cfg *config.Config, seed int64, io IO) (*storageDemo, error) {
	net, err := simnet.BuildStorage(storageDemoScenario(seed))
	if err != nil {
		return nil, err
	}
	d := &storageDemo{net: net}
	if d.nodes, err = net.Start(ctx); err != nil {
		return nil, err
	}
	cfg.Storage = config.Storage{Schedule: "off", Keys: "uploads", SampleSize: 0, DefaultR: net.R(), BatchSize: 100,
		NonHolderProbes: 1}
	if cfg.ContentNodeSource == config.SourceEthereum {
		cfg.Storage.NodeSource = config.SourceStatic
		for i, e := range net.StaticEndpoints() {
			cfg.Storage.StaticNodes = append(cfg.Storage.StaticNodes, config.ContentNode{SPID: int64(i + 1), Endpoint: e})
		}
	} else {
		if d.reg, err = net.StartRegistry(ctx); err != nil {
			d.close()
			return nil, err
		}
		cfg.Storage.NodeSource = config.SourceEthereum
		cfg.Ethereum = config.Ethereum{ProviderURL: config.Secret(d.reg.URL), Registry: simnet.RegistryAddress}
	}
	fmt.Fprintf(io.Stdout, "simulated storage network: %d nodes, %d keys, R %d; nodes from %s\n",
		len(net.NodeIDs()), len(net.UploadKeys()), net.R(), cfg.Storage.NodeSource)
	return d, nil
}

// close stops what the storage demo started.
func (d *storageDemo) close() {
	if d.reg != nil {
		d.reg.Close()
	}
	d.nodes.Close()
}

// run runs the storage run, prints its summary and checks its headline values against the
// simulator's truth.
func (d *storageDemo) run(ctx context.Context, cfg config.Config, io IO, log zerolog.Logger) error {
	fmt.Fprintln(io.Stdout)
	ev, err := startAndWatch(ctx, cfg, lifecycle.Storage, true, io.Stdout, log)
	if err != nil {
		return err
	}
	if err := printSummary(ctx, cfg, ev.GetRunId(), io.Stdout); err != nil {
		return err
	}
	if ev.GetStatus() != netmonv1.RunStatus_RUN_STATUS_COMPLETE {
		return fmt.Errorf("storage run %d ended %s%s", ev.GetRunId(), statusName(ev.GetStatus()), reasonSuffix(ev.GetReason()))
	}
	fmt.Fprintf(io.Stdout, "\nstorage run %d complete; metrics pushed to %s/metrics (job %s-storage)\n",
		ev.GetRunId(), cfg.PushGatewayURL, cfg.PushJob)
	st, err := store.Open(ctx, cfg.NMDB.ConnString(), 2)
	if err != nil {
		return err
	}
	defer st.Close()
	samples, err := st.Samples(ctx, ev.GetRunId())
	if err != nil {
		return err
	}
	got := map[string]float64{}
	for _, s := range samples {
		got[s.Key()] = s.Value
	}
	truth := d.net.StorageTruth(d.nodes, simnet.KeyStrings(d.net.UploadKeys()))
	keys := float64(truth.Keys)
	headline := []struct {
		name       string
		got, truth float64
	}{
		{"keys checked", got["audius_nm_storage_keys_sampled{}"], keys},
		{"under-replicated share", got["audius_nm_storage_under_replicated_share{}"], float64(truth.UnderReplicated) / keys},
		{"lost share", got["audius_nm_storage_lost_share{}"], float64(truth.Lost) / keys},
		{"consensus R", got["audius_nm_storage_consensus_replication_factor{}"], float64(truth.ConsensusR)},
	}
	bad := 0
	for _, h := range headline {
		mark := "="
		if math.Abs(h.got-h.truth) > 1e-9 {
			mark, bad = "≠", bad+1
		}
		fmt.Fprintf(io.Stdout, "  %-24s %-10.4g %s ground truth %.4g\n", h.name, h.got, mark, h.truth)
	}
	if bad > 0 {
		return fmt.Errorf("%d storage values differ from the simulator's ground truth", bad)
	}
	fmt.Fprintln(io.Stdout, "the storage run's headline values equal the simulator's ground truth (every series is checked by TestStorageRunMetrics)")
	return nil
}
