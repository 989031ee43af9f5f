package cli

import (
	"context"
	"fmt"

	"github.com/audius-netmon/netmon/internal/stage"
	"github.com/audius-netmon/netmon/internal/web"
)

const serveHelp = `Serves netmon's read-only web view and JSON API over the NM DB until interrupted: the last
run at a glance with its node table (nodes that need attention in red, with the reasons), the
run history with a chart, each run, a user's or a CID's answers, a metric's trend, and a search
by user id, wallet or CID. The JSON is under /api/ (runs, runs/RUN, runs/RUN/nodes,
users/USER, cids/CID, trend?metric=M&sp=N, diff?a=RUN&b=RUN).

It needs only the NM DB, never shows a secret, and accepts only GET and HEAD. No login: it
listens on 127.0.0.1 unless --addr says otherwise (for another machine, put it behind a proxy
that authenticates).

Exit codes: 0 stopped by a signal; 1 it could not listen or the NM DB failed; 2 usage or
configuration.
`

// serveCmd is `netmon serve`: the read-only web view and JSON API over the NM DB.
func serveCmd(ctx context.Context, args []string, io IO) int {
	fs := newFlags("serve", "serve [--addr HOST:PORT]", serveHelp, 0)
	addr := fs.String("addr", web.DefaultAddr, "listen address (HOST:PORT; :PORT listens on every interface)")
	if _, code, ok := fs.parse(args, io); !ok {
		return code
	}
	cfg, ok := loadConfig(io, needs{nmDB: true})
	if !ok {
		return ExitUsage
	}
	log := stage.Logger(cfg, "web", io.Stderr)
	st, err := openStore(ctx, cfg, false)
	if err != nil {
		return fail(io, "serve", err)
	}
	defer st.Close()
	err = web.New(st, log).Serve(ctx, *addr, func(a string) {
		log.Info().Str("addr", a).Msg("serving the web view on http://" + a + "/")
		fmt.Fprintf(io.Stdout, "netmon serve: http://%s/\n", a)
	})
	if err != nil {
		return fail(io, "serve", err)
	}
	return ExitOK
}
