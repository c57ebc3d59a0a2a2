// Package ctxerr reports a context's end in place of the error a client
// library gave when the context cut its call short, so callers can match
// context.Canceled and context.DeadlineExceeded whatever the library said.
package ctxerr

import "context"

// First returns ctx's error when err is set and ctx has ended, else err.
func First(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
