package stage

import (
	"github.com/nats-io/nats.go"

	"github.com/audius-netmon/netmon/internal/config"
)

// NATSOptions are the connection options for cfg's NATS credentials and TLS files (none when
// nothing is set). Every process that dials NATS passes them to bus.Connect. A seed file that
// cannot be read or parsed makes the connection fail with that error.
func NATSOptions(cfg config.Config) []nats.Option {
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
