module github.com/audius-netmon/netmon/services/fetcher

go 1.26.8
