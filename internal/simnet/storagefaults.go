package simnet

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseStorageFaults reads the command-line form of storage node settings and faults:
// comma-separated ID=KIND[+KIND...], e.g.
//
//	3=down,4=slow:200ms:2s,5=dbdown,6=missing:0.3+extra:0.05,7=r:3+mediorum,8=wrongsigner
//
// Kinds: down, hang, slow[:MEDIAN[:P99]], dbdown, errors, noroute, lying, missing:SHARE,
// extra:SHARE, unpulled, unsigned, wrongsigner, malformed, mismatch, unregistered, stalerepair,
// diskfull, and the node settings r:N and mediorum (GO's health format). Each id may appear once.
func ParseStorageFaults(spec string) ([]StorageNodeSpec, error) {
	return parseNodeItems(spec, "storage faults", "node", func(id int64) StorageNodeSpec { return StorageNodeSpec{ID: id} }, applyStorageFault)
}

func applyStorageFault(ns *StorageNodeSpec, kind string) error {
	name, argText, _ := strings.Cut(kind, ":")
	var args []string
	if argText != "" {
		args = strings.Split(argText, ":")
	}
	f := &ns.Faults
	want := 0
	share := func() (float64, error) {
		want = 1
		if len(args) == 0 {
			return 0, fmt.Errorf("%s needs a share, e.g. %s:0.1", name, name)
		}
		v, err := strconv.ParseFloat(args[0], 64)
		if err != nil || !(v >= 0 && v <= 1) {
			return 0, fmt.Errorf("%s: %q is not a share in [0, 1]", name, args[0])
		}
		return v, nil
	}
	var err error
	switch name {
	case "down":
		f.Down = true
	case "hang":
		f.Hang = true
	case "dbdown":
		f.DBDown = true
	case "errors":
		f.StorageErrors = true
	case "noroute":
		f.NoRoute = true
	case "lying":
		f.Lying = true
	case "unpulled":
		f.Unpulled = true
	case "unregistered":
		f.Unregistered = true
	case "stalerepair":
		f.StaleRepair = true
	case "diskfull":
		f.DiskFull = true
	case "unsigned":
		f.Signature = SigUnsigned
	case "wrongsigner":
		f.Signature = SigWrongSigner
	case "malformed":
		f.Signature = SigMalformed
	case "mismatch":
		f.Signature = SigMismatch
	case "mediorum":
		ns.Format = FormatMediorum
	case "missing":
		f.MissingShare, err = share()
	case "extra":
		f.ExtraShare, err = share()
	case "r":
		want = 1
		if len(args) == 0 {
			return fmt.Errorf("r needs a replication factor, e.g. r:3")
		}
		if ns.R, err = strconv.Atoi(args[0]); err != nil || ns.R < 1 {
			return fmt.Errorf("r: %q is not a positive integer", args[0])
		}
	case "slow":
		want = 2
		l := &Latency{Median: Duration(100 * time.Millisecond)}
		if len(args) > 0 {
			d, perr := time.ParseDuration(args[0])
			if perr != nil || d <= 0 {
				return fmt.Errorf("slow: %q is not a positive duration", args[0])
			}
			l.Median = Duration(d)
		}
		l.P99 = 4 * l.Median
		if len(args) > 1 {
			d, perr := time.ParseDuration(args[1])
			if perr != nil || Duration(d) < l.Median {
				return fmt.Errorf("slow: %q is not a duration at least the median", args[1])
			}
			l.P99 = Duration(d)
		}
		f.Latency = l
	default:
		return fmt.Errorf("unknown fault %q", name)
	}
	if err != nil {
		return err
	}
	if len(args) > want {
		return fmt.Errorf("%s takes at most %d arguments", name, want)
	}
	return nil
}

// String describes a node's settings and faults in ParseStorageFaults' form ("" for a default
// node).
func (ns StorageNodeSpec) String() string {
	var k []string
	add := func(b bool, s string) {
		if b {
			k = append(k, s)
		}
	}
	f := ns.Faults
	add(ns.R != 0, "r:"+strconv.Itoa(ns.R))
	add(ns.Format == FormatMediorum, "mediorum")
	add(f.Down, "down")
	add(f.Hang, "hang")
	if f.Latency != nil {
		k = append(k, fmt.Sprintf("slow:%s:%s", time.Duration(f.Latency.Median), time.Duration(f.Latency.P99)))
	}
	add(f.DBDown, "dbdown")
	add(f.StorageErrors, "errors")
	add(f.NoRoute, "noroute")
	add(f.Lying, "lying")
	add(f.MissingShare > 0, "missing:"+strconv.FormatFloat(f.MissingShare, 'g', -1, 64))
	add(f.ExtraShare > 0, "extra:"+strconv.FormatFloat(f.ExtraShare, 'g', -1, 64))
	add(f.Unpulled, "unpulled")
	add(f.Signature != "", strings.ReplaceAll(f.Signature, "_", ""))
	add(f.Unregistered, "unregistered")
	add(f.StaleRepair, "stalerepair")
	add(f.DiskFull, "diskfull")
	return strings.Join(k, "+")
}
