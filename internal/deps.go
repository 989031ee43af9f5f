package internal

import (
	_ "github.com/compose-spec/compose-go/v2/loader"
	_ "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/nats-io/nats-server/v2/server"
	_ "github.com/nats-io/nats.go/jetstream"
	_ "github.com/prometheus/client_golang/prometheus/push"
	_ "github.com/prometheus/common/expfmt"
	_ "github.com/rs/zerolog"
	_ "golang.org/x/crypto/sha3"
	_ "golang.org/x/sync/errgroup"
	_ "google.golang.org/protobuf/proto"
)
