package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/audius-netmon/netmon/internal/simnet"
)

// The networks --network selects.
const (
	networkLegacy  = "legacy"
	networkStorage = "storage"
)

// storageFlags are the flags a storage network reads.
type storageFlags struct {
	users, nodes, tracks, playlists, validators, r int
	seed                                           int64
	faults, scenario, regFaults, delegates         string
	bench                                          bool
}

// parseStorage builds the configuration of --network storage: --scenario (a StorageScenario) or
// the counts, then --faults in ParseStorageFaults' form. The registry always runs: it is the
// storage network's node list.
func parseStorage(fs *flag.FlagSet, set map[string]bool, c config, f storageFlags) (config, error) {
	var problems []string
	if f.scenario != "" {
		s, err := simnet.LoadStorageScenario(f.scenario)
		if err != nil {
			problems = append(problems, err.Error())
		}
		c.storage = s
	} else {
		c.storage = simnet.StorageScenario{Seed: f.seed, NodeCount: f.nodes, Tracks: f.tracks, Users: 1000,
			Playlists: f.playlists, Validators: f.validators, R: f.r, OrphanUploads: f.tracks / 50}
	}
	for name, apply := range map[string]func(){
		"users": func() { c.storage.Users = f.users }, "nodes": func() { c.storage.NodeCount = f.nodes },
		"seed": func() { c.storage.Seed = f.seed }, "tracks": func() { c.storage.Tracks = f.tracks },
		"playlists": func() { c.storage.Playlists = f.playlists }, "validators": func() { c.storage.Validators = f.validators },
		"r": func() { c.storage.R = f.r },
	} {
		if set[name] {
			apply()
		}
	}
	if f.faults != "" {
		specs, err := simnet.ParseStorageFaults(f.faults)
		if err != nil {
			problems = append(problems, err.Error())
		}
		c.storage = c.storage.WithNodes(specs)
	}
	c.regFaults, problems = registryFaults(f.regFaults, true, problems)
	if f.bench {
		problems = append(problems, "--bench is for the legacy network")
	}
	if f.delegates != "" {
		problems = append(problems, "--delegate is for the legacy network (storage nodes sign their health themselves)")
	}
	if len(problems) > 0 {
		return config{}, fmt.Errorf("%w: %s\n%s", errUsage, strings.Join(problems, "; "), usage(fs))
	}
	return c, nil
}

// runStorage builds the storage network, starts its nodes and registry, seeds its discovery
// database, writes the truth of a full check of every key, and serves until ctx ends.
func runStorage(ctx context.Context, c config, out io.Writer) (err error) {
	s := c.storage
	start := time.Now()
	n, err := simnet.BuildStorage(s)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	nodes, err := n.Start(ctx)
	if err != nil {
		return err
	}
	defer nodes.Close()
	url, drop, err := discoveryDatabase(ctx, c, s.Seed)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, drop()) }()
	if err := n.SeedDiscovery(ctx, url); err != nil {
		return err
	}
	reg, err := n.StartRegistry(ctx)
	if err != nil {
		return err
	}
	defer reg.Close()
	reg.SetFaults(c.regFaults)
	all := n.AllKeys()
	fmt.Fprintf(out, "netmon-simnet: storage network, seed %d, %d nodes (R %d), %d keys (%d named by discovery, %d in uploads); ready in %s\n",
		s.Seed, len(n.NodeIDs()), n.R(), len(all), len(n.DiscoveryKeys()), len(n.UploadKeys()), time.Since(start).Round(time.Millisecond))

	specs := map[int64]simnet.StorageNodeSpec{}
	for _, ns := range s.Nodes {
		specs[ns.ID] = ns
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "id\tendpoint\tdelegate\tfaults")
	for _, id := range n.NodeIDs() {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", id, nodes.Endpoint(id), n.Delegate(id), specs[id])
	}
	tw.Flush()
	fmt.Fprintf(out, "discovery DSN: %s\n", url)
	fmt.Fprintf(out, "STORAGE_NODES=%s\n", strings.Join(n.StaticEndpoints(), ","))
	fmt.Fprintf(out, "ETH_PROVIDER_URL=%s\nETH_REGISTRY_ADDRESS=%s\n", reg.URL, simnet.RegistryAddress)

	truth := n.StorageTruth(nodes, simnet.KeyStrings(all))
	if err := writeTruth(c.truthPath, truth, out); err != nil {
		return err
	}
	fmt.Fprintf(out, "expected (every key): keys %d, under-replicated %d, lost %d, by present holders %v\n",
		truth.Keys, truth.UnderReplicated, truth.Lost, truth.ByPresent)
	fmt.Fprintln(out, "ready; interrupt to stop")

	<-ctx.Done()
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "id\trequests\tblob_info\thealth\tuploads\tother")
	for _, id := range n.NodeIDs() {
		st := nodes.Stats(id)
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\n", id, st.Requests, st.BlobInfo, st.Health, st.Uploads, st.Other)
	}
	tw.Flush()
	return nil
}
