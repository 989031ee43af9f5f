module github.com/audius-netmon/netmon/services/netmon

go 1.26.8
