module github.com/audius-netmon/netmon/services/planner

go 1.26.8
