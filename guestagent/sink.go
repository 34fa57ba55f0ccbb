package guestagent

import (
	"context"
	"fmt"

	"github.com/virtwatt/virtwatt/guestagent/measure"
)

// Sink receives every Sample the agent makes, in order, from the poll loop.
// Emit must return quickly (queue slow work, such as a webhook POST, and do
// it elsewhere): the loop waits for it, though never longer than its ctx,
// which ends after one poll interval. An error is logged and counted in
// virtwatt_output_errors_total{output}; it never stops the agent.
//
// A Sink that also implements io.Closer is closed when the agent stops,
// after the last Emit; one with a Name() string method is named by it in
// logs and metrics.
type Sink interface {
	Emit(ctx context.Context, s measure.Sample) error
}

// sinkName names a sink for logs and metrics.
func sinkName(s Sink) string {
	if n, ok := s.(interface{ Name() string }); ok {
		return n.Name()
	}
	return fmt.Sprintf("%T", s)
}
