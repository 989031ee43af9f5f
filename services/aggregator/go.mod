module github.com/audius-netmon/netmon/services/aggregator

go 1.26.8
