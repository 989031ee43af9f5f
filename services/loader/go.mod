module github.com/audius-netmon/netmon/services/loader

go 1.26.8
