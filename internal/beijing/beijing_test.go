package beijing_test

import (
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/internal/beijing"
)

func TestDayTurnsAtBeijingMidnight(t *testing.T) {
	before := time.Date(2026, 11, 23, 15, 59, 59, 0, time.UTC) // 23:59:59 in Beijing
	if got := beijing.Day(before); got != "2026-11-23" {
		t.Fatalf("Day(%v) = %s, want 2026-11-23", before, got)
	}
	if got := beijing.Day(before.Add(time.Second)); got != "2026-11-24" {
		t.Fatalf("Day(%v) = %s, want 2026-11-24 (midnight in Beijing is 16:00 UTC)", before.Add(time.Second), got)
	}
}
