package stage

import (
	"context"
	"errors"
	"io"
	"os"

	"github.com/audius-netmon/netmon/internal/config"
)

// Serve is a stage binary's whole life: load and check the configuration (every problem at
// once), build the logger, and run the stage until ctx ends.
func Serve(ctx context.Context, stage config.Stage, environ []string, stderr io.Writer,
	run func(context.Context, Deps) error) error {
	cfg, err := config.LoadEnviron(environ, os.ReadFile)
	// Every problem at once: the values' and what this stage needs.
	if rerr := cfg.Require(stage); rerr != nil {
		err = errors.Join(err, rerr)
	}
	if err != nil {
		return errConfig{err}
	}
	log := Logger(cfg, string(stage), stderr)
	for _, w := range cfg.Warnings {
		log.Warn().Msg(w)
	}
	log.Info().Msg("starting")
	if err := run(ctx, Deps{Config: cfg, Log: log}); err != nil {
		return err
	}
	log.Info().Msg("stopped")
	return nil
}
