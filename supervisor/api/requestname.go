package api

import "context"

// requestNameKey carries the slot a handler names its request in.
type requestNameKey struct{}

// WithRequestName returns ctx with an empty slot a handler fills with
// NameRequest: how a wrapper (the audit log) learns what a request whose
// path does not say it did, such as a form's POST to /ui/action.
func WithRequestName(ctx context.Context) (context.Context, *string) {
	slot := new(string)
	return context.WithValue(ctx, requestNameKey{}, slot), slot
}

// NameRequest names the request of ctx ("restart web") for the wrapper
// that asked with WithRequestName; without one it does nothing.
func NameRequest(ctx context.Context, name string) {
	if slot, ok := ctx.Value(requestNameKey{}).(*string); ok {
		*slot = name
	}
}
