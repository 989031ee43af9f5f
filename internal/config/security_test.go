package config

import (
	"time"
)

// The expected configuration of testdata/good/security.env (goodConfigs is config_test.go's).
func init() {
	goodConfigs["security"] = func() Config {
		c := defaults()
		c.AckWait = 5 * time.Second
		c.NATSAuth = NATSAuth{User: "netmon", Password: "nats-pass-s3cr3t",
			TLSCA: "testdata/security/ca.pem", TLSCert: "testdata/security/client.pem",
			TLSKey: "testdata/security/client-key.pem"}
		c.PushAuth = BasicAuth{Username: "pusher", Password: "push-file-s3cr3t"}
		c.EndpointPolicy = CNPolicy{BlockPrivate: true, AllowNetworks: []string{"10.20.0.0/16", "192.168.1.7/32", "10.0.0.0/8"}}
		return c
	}
}
