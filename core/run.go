package core

import (
	"container/heap"
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// staleRetry is how soon Run looks again at a credential whose stale
// token it could not replace yet (another node held the lock, the store
// or upstream failed): a replacement installed meanwhile reschedules it.
const staleRetry = time.Second

// Run keeps every registered credential fresh with no traffic: each
// credential is due when its token turns stale (a point spread over the
// refresh-ahead window, see Settings.RefreshAhead, plus a little jitter
// per node), and a refresh, or the adoption of the token another node
// already fetched, starts then in the background, as many at a time as
// the node allows. One goroutine keeps the schedule: a credential costs
// nothing between two of its refreshes, however many are registered. It
// returns ctx's error when ctx ends, or ErrClosed after Close. Every node
// may run it: the fleet lock makes sure only one of them calls upstream.
// Concurrent calls share one schedule.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	first := m.runs == 0
	m.runs++
	if first {
		m.running.Store(true)
		for _, e := range m.byID {
			m.schedule(e)
		}
	}
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.runs--; m.runs == 0 {
			m.running.Store(false)
			m.sched.clear()
		}
	}()
	if !first {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-m.ctx.Done():
			return ErrClosed
		}
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		e, wait := m.sched.next(time.Now())
		if e != nil {
			m.due(ctx, e)
			continue
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-m.ctx.Done():
			return ErrClosed
		case <-m.sched.wake:
		case <-timer.C:
		}
	}
}

// schedule makes e due when its token turns stale (at once when it has
// none), while Run runs.
func (m *Manager) schedule(e *entry) {
	if !m.running.Load() {
		return
	}
	at := time.Now()
	if s := e.snap.Load(); s != nil {
		jitter := max(s.usable-s.fresh, 0) / 10
		at = at.Add(time.Duration(s.fresh - m.now().UnixNano() + rand.Int64N(jitter+1)))
	}
	m.sched.put(e, at)
}

// due handles e when its time came: a stale or missing token is refreshed
// in the background (waiting, within ctx, for one of the node's refresh
// slots), and e is due again staleRetry later unless the new token
// reschedules it first.
func (m *Manager) due(ctx context.Context, e *entry) {
	if s := e.snap.Load(); s.isFresh(m.now()) {
		m.schedule(e) // replaced meanwhile
		return
	}
	m.sched.put(e, time.Now().Add(staleRetry/2+rand.N(staleRetry)))
	select {
	case m.slots <- struct{}{}:
	case <-ctx.Done():
		return
	case <-m.ctx.Done():
		return
	}
	if !m.refreshIn(e) {
		<-m.slots
	}
}

// scheduler is Run's schedule: the credentials by the time they are due.
type scheduler struct {
	mu   sync.Mutex
	h    dueHeap
	wake chan struct{} // something became due sooner
}

func newScheduler() *scheduler { return &scheduler{wake: make(chan struct{}, 1)} }

// put makes e due at at, unless it was unregistered.
func (s *scheduler) put(e *entry, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.gone {
		return
	}
	e.dueAt = at.UnixNano()
	if e.heapIndex >= 0 {
		heap.Fix(&s.h, e.heapIndex)
	} else {
		heap.Push(&s.h, e)
	}
	if e.heapIndex == 0 {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// next pops the entry due at now, if any, or says how long until the
// next one is (an hour when none is scheduled).
func (s *scheduler) next(now time.Time) (*entry, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.h) == 0 {
		return nil, time.Hour
	}
	if wait := time.Duration(s.h[0].dueAt - now.UnixNano()); wait > 0 {
		return nil, wait
	}
	return heap.Pop(&s.h).(*entry), 0
}

// remove takes e off the schedule for good: it was unregistered.
func (s *scheduler) remove(e *entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.gone = true
	if e.heapIndex >= 0 {
		heap.Remove(&s.h, e.heapIndex)
	}
}

// clear empties the schedule: Run stopped.
func (s *scheduler) clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.h {
		e.heapIndex = -1
	}
	s.h = nil
}

// dueHeap orders entries by dueAt (container/heap).
type dueHeap []*entry

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].dueAt < h[j].dueAt }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIndex, h[j].heapIndex = i, j
}
func (h *dueHeap) Push(x any) {
	e := x.(*entry)
	e.heapIndex = len(*h)
	*h = append(*h, e)
}
func (h *dueHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	e.heapIndex = -1
	*h = old[:len(old)-1]
	return e
}
