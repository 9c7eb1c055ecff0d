package cache

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
)

// LogTo sends go-redis's own log lines (such as "failed to dial" while Redis is down) to log at
// debug level instead of stderr. The store's failures are already counted and warned about by
// the gateway, at a bounded rate; go-redis's lines repeat them. It is process-wide, as go-redis's
// logger is, so only main calls it.
func LogTo(log *slog.Logger) { redis.SetLogger(slogPrintf{log}) }

type slogPrintf struct{ log *slog.Logger }

func (l slogPrintf) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}
