package fetcher

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	netmonv1 "github.com/audius-netmon/netmon/proto/netmon/v1"
)

// metrics are the fetcher's per-node fetch health series. Labels are bounded: sp_id and endpoint
// by the number of nodes, kind by the five kinds of work item (clock, cid, image_cid, storage,
// health),
// outcome by the Outcome enum, code by HTTP statuses and the three transport failure reasons.
type metrics struct {
	items    *prometheus.CounterVec
	wallets  *prometheus.CounterVec
	cids     *prometheus.CounterVec
	duration *prometheus.HistogramVec
	requests *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		items: f.NewCounterVec(prometheus.CounterOpts{
			Name: "netmon_fetcher_items_total",
			Help: "Work items answered by this fetcher, by node, kind (clock, cid, image_cid, storage, health) and outcome.",
		}, []string{"sp_id", "endpoint", "kind", "outcome"}),
		wallets: f.NewCounterVec(prometheus.CounterOpts{
			Name: "netmon_fetcher_wallets_total",
			Help: "Wallets in answered clock work items, by content node and item outcome; of an OK answer, wallets the node does not know (-1) count as \"unknown_wallet\" and wallets it left out as \"missing\".",
		}, []string{"sp_id", "endpoint", "outcome"}),
		cids: f.NewCounterVec(prometheus.CounterOpts{
			Name: "netmon_fetcher_cids_total",
			Help: "CIDs in answered CID work items, by content node, kind and answer: present, absent, or the item's outcome when it failed (CIDs an OK answer left out count as \"missing\").",
		}, []string{"sp_id", "endpoint", "kind", "outcome"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "netmon_fetcher_request_duration_seconds",
			Help:    "Duration of single content-node requests (one attempt), failures included, by kind of work item.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"sp_id", "endpoint", "kind"}),
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "netmon_fetcher_requests_total",
			Help: "Content-node requests (attempts), by kind of work item and HTTP status code, or timeout, refused or network when there was no answer.",
		}, []string{"sp_id", "endpoint", "kind", "code"}),
	}
}

// outcomeLabel is the outcome's enum name without its prefix, lower-cased: "ok", "timeout", ….
func outcomeLabel(o netmonv1.Outcome) string {
	return strings.ToLower(strings.TrimPrefix(o.String(), "OUTCOME_"))
}
