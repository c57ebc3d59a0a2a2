package farm

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// histogram records durations in logarithmic buckets (about 2% wide) from
// 100 ns to 100 s; quantiles are read to the bucket's upper bound. One
// worker owns one histogram; merge adds them up at the end.
type histogram struct {
	counts [histBuckets]int64
	n      int64
	max    time.Duration
}

const (
	histMin     = 100 * time.Nanosecond
	histGrowth  = 1.02
	histBuckets = 1050 // 100 ns * 1.02^1050 > 100 s
)

var logGrowth = math.Log(histGrowth)

func bucketOf(d time.Duration) int {
	if d <= histMin {
		return 0
	}
	i := int(math.Log(float64(d)/float64(histMin))/logGrowth) + 1
	return min(i, histBuckets-1)
}

func upperBound(i int) time.Duration {
	return time.Duration(float64(histMin) * math.Pow(histGrowth, float64(i)))
}

func (h *histogram) record(d time.Duration) {
	h.counts[bucketOf(d)]++
	h.n++
	h.max = max(h.max, d)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the duration below which a fraction q of the samples
// fall (0 when there are none), never more than the largest sample.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.n)))
	var seen int64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			if i == histBuckets-1 { // the overflow bucket has no upper bound
				return h.max
			}
			return min(upperBound(i), h.max)
		}
	}
	return h.max
}

// Latency summarises a histogram for the report.
type Latency struct {
	Count int64         `json:"count"`
	P50   time.Duration `json:"p50_ns"`
	P99   time.Duration `json:"p99_ns"`
	Max   time.Duration `json:"max_ns"`
}

func (h *histogram) summary() Latency {
	return Latency{Count: h.n, P50: h.quantile(0.5), P99: h.quantile(0.99), Max: h.max}
}

// histJSON is a histogram on the wire between a node process and the
// farm: only the buckets that counted something.
type histJSON struct {
	N       int64         `json:"n"`
	Max     time.Duration `json:"max"`
	Buckets map[int]int64 `json:"buckets"`
}

// MarshalJSON implements json.Marshaler.
func (h *histogram) MarshalJSON() ([]byte, error) {
	out := histJSON{N: h.n, Max: h.max, Buckets: make(map[int]int64)}
	for i, c := range h.counts {
		if c != 0 {
			out.Buckets[i] = c
		}
	}
	return json.Marshal(out)
}

// UnmarshalJSON implements json.Unmarshaler.
func (h *histogram) UnmarshalJSON(b []byte) error {
	var in histJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	*h = histogram{n: in.N, max: in.Max}
	for i, c := range in.Buckets {
		if i < 0 || i >= histBuckets || c < 0 {
			return fmt.Errorf("farm: histogram bucket %d out of range", i)
		}
		h.counts[i] = c
	}
	return nil
}
