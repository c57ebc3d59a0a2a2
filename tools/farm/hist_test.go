package farm

import (
	"encoding/json"
	"testing"
	"time"
)

func TestHistogramQuantilesWithinABucket(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}, {1, time.Millisecond}} {
		got := h.quantile(c.q)
		if got < c.want || float64(got) > float64(c.want)*1.021 {
			t.Errorf("quantile(%v) = %v, want %v to 2%% above", c.q, got, c.want)
		}
	}
	if h.max != time.Millisecond || h.n != 1000 {
		t.Fatalf("max %v n %d", h.max, h.n)
	}
	var other histogram
	other.record(time.Hour) // beyond the last bucket: counted there, max exact
	h.merge(&other)
	if h.quantile(1) != time.Hour || h.n != 1001 {
		t.Fatalf("after merge: quantile(1) = %v, n = %d", h.quantile(1), h.n)
	}
	var empty histogram
	if empty.quantile(0.99) != 0 {
		t.Fatal("an empty histogram has no quantiles")
	}
}

func TestHistogramJSONRoundTrip(t *testing.T) {
	var h histogram
	for _, d := range []time.Duration{300 * time.Nanosecond, 2 * time.Microsecond, 2 * time.Microsecond, time.Second} {
		h.record(d)
	}
	b, err := json.Marshal(&h)
	if err != nil {
		t.Fatal(err)
	}
	var back histogram
	if err := json.Unmarshal(b, &back); err != nil || back != h {
		t.Fatalf("round trip of %s: %v, equal %v", b, err, back == h)
	}
	if err := json.Unmarshal([]byte(`{"n":1,"buckets":{"99999":1}}`), &back); err == nil {
		t.Fatal("a bucket out of range was accepted")
	}
}
