package bus

import (
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/audius-netmon/netmon/internal/config"
)

// Dial connects to cfg's NATS servers in cfg's namespace (NETMON_NAMESPACE) with its credentials
// and TLS, as name; see Connect. Every netmon process dials this way.
func Dial(cfg config.Config, name string, log zerolog.Logger) (*Conn, error) {
	return Connect(cfg.NATSURL, Namespace(cfg.Namespace), name, log, natsOptions(cfg)...)
}

// natsOptions are the connection options for cfg's NATS credentials and TLS files (none when
// nothing is set). A seed file that
// cannot be read or parsed makes the connection fail with that error.
func natsOptions(cfg config.Config) []nats.Option {
	a := cfg.NATSAuth
	var opts []nats.Option
	switch {
	case a.User != "":
		opts = append(opts, nats.UserInfo(a.User, a.Password.Reveal()))
	case a.Token != "":
		opts = append(opts, nats.Token(a.Token.Reveal()))
	case a.NKeySeedFile != "":
		opt, err := nats.NkeyOptionFromSeed(a.NKeySeedFile)
		if err != nil {
			opt = func(*nats.Options) error { return err }
		}
		opts = append(opts, opt)
	case a.CredsFile != "":
		opts = append(opts, nats.UserCredentials(a.CredsFile))
	}
	if a.TLSCA != "" {
		opts = append(opts, nats.RootCAs(a.TLSCA))
	}
	if a.TLSCert != "" {
		opts = append(opts, nats.ClientCert(a.TLSCert, a.TLSKey))
	}
	return opts
}
