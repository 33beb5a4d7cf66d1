package supervisor

import (
	"context"
	"sync"

	"roost/supervisor/api"
)

// eventBuffer is how many events a subscriber may fall behind before it
// misses some: publishing never blocks a process's owner goroutine.
const eventBuffer = 1024

// broker fans events out to subscribers.
type broker struct {
	mu   sync.Mutex
	subs map[chan api.Event]struct{}
}

func newBroker() *broker { return &broker{subs: map[chan api.Event]struct{}{}} }

// publish delivers ev to every subscriber that has room for it.
func (b *broker) publish(ev api.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- ev:
		default: // a slow subscriber loses events rather than stalling a process
		}
	}
}

// subscribe returns a channel of events, closed when ctx ends.
func (b *broker) subscribe(ctx context.Context) <-chan api.Event {
	ch := make(chan api.Event, eventBuffer)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	go func() {
		<-ctx.Done()
		b.mu.Lock()
		delete(b.subs, ch)
		b.mu.Unlock()
		close(ch)
	}()
	return ch
}
