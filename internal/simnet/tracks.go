package simnet

var trackColumns = []string{
	"track_id", "is_current", "txhash", "owner_id", "cover_art", "cover_art_sizes",
	"metadata_multihash", "download", "track_segments", "is_delete",
}

type trackSource struct{ n *Network }

func (n *Network) newTrackSource() *trackSource { return &trackSource{n: n} }

func (s *trackSource) Next() bool             { return false }
func (s *trackSource) Values() ([]any, error) { return nil, nil }
func (s *trackSource) Err() error             { return nil }
