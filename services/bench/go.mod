module github.com/audius-netmon/netmon/services/bench

go 1.26.8

require github.com/audius-netmon/netmon/internal v0.0.0

replace github.com/audius-netmon/netmon/internal => ../../internal

replace github.com/audius-netmon/netmon/proto => ../../proto
