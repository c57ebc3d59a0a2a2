package core

import (
	"log/slog"
	"time"
)

// A permanent upstream error (a wrong secret or appid, an IP off the
// whitelist, the day's quota) will not go away by asking again: each one
// in a row is held twice as long as the one before, from ErrorHold up to
// maxErrorHold, and it is logged at warn once, then again only when it
// changes or after failureLogEvery (saying how many were not logged).
// A success, or an explicit Refresh that succeeds, starts over.
const (
	maxErrorHold    = 10 * time.Minute
	failureLogEvery = 5 * time.Minute
)

// failureLog is the failure an entry last logged at warn.
type failureLog struct {
	text       string
	at         time.Time
	suppressed int
}

// failed holds a failed fetch's error for callers that come next, and
// logs it at most as often as the rules above allow.
func (m *Manager) failed(e *entry, err error, now time.Time) {
	e.mu.Lock()
	holdFor := m.cfg.ErrorHold
	if IsTransient(err) {
		holdFor = min(holdFor, transientHold)
	} else {
		e.failures++
		for i := 1; i < e.failures && holdFor < maxErrorHold; i++ {
			holdFor *= 2
		}
		holdFor = min(holdFor, max(maxErrorHold, m.cfg.ErrorHold))
	}
	e.heldErr, e.heldUntil = err, now.Add(holdFor)
	text := err.Error()
	level := slog.LevelWarn
	suppressed := e.logged.suppressed
	if text == e.logged.text && now.Sub(e.logged.at) < failureLogEvery {
		level = slog.LevelDebug
		e.logged.suppressed++
	} else {
		e.logged = failureLog{text: text, at: now}
	}
	e.mu.Unlock()
	attrs := []any{"id", e.id, "err", err, "retry_in", holdFor}
	if level == slog.LevelWarn && suppressed > 0 {
		attrs = append(attrs, "repeated", suppressed)
	}
	m.cfg.logger.Log(m.ctx, level, "wxtoken: upstream fetch failed", attrs...)
}

// succeeded clears an entry's failures.
func (e *entry) succeeded() {
	e.mu.Lock()
	e.heldErr, e.heldUntil, e.failures, e.logged = nil, time.Time{}, 0, failureLog{}
	e.mu.Unlock()
}
