package detect

// The correlator's two priority queues: the reorder buffer of observations
// and the timers of windows that close at their end. Both implement
// heap.Interface (a restored checkpoint is ordered with heap.Init), and
// push and pop do what heap.Push and heap.Pop do, in the same order, on the
// concrete types: no interface calls and no boxing of timers.

// obsHeap is the reorder buffer.
type obsHeap []*Observation

func (h obsHeap) Len() int           { return len(h) }
func (h obsHeap) Less(i, j int) bool { return obsLess(h[i], h[j]) }
func (h obsHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *obsHeap) Push(x any)        { *h = append(*h, x.(*Observation)) }
func (h *obsHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return x
}

func (h *obsHeap) push(o *Observation) {
	*h = append(*h, o)
	q := *h
	for j := len(q) - 1; j > 0; {
		i := (j - 1) / 2
		if !q.Less(j, i) {
			break
		}
		q.Swap(i, j)
		j = i
	}
}

func (h *obsHeap) pop() *Observation {
	q := *h
	n := len(q) - 1
	q.Swap(0, n)
	for i := 0; ; {
		j := 2*i + 1
		if j >= n {
			break
		}
		if j2 := j + 1; j2 < n && q.Less(j2, j) {
			j = j2
		}
		if !q.Less(j, i) {
			break
		}
		q.Swap(i, j)
		i = j
	}
	o := q[n]
	q[n] = nil
	*h = q[:n]
	return o
}

type timerHeap []timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	a, b := &h[i], &h[j]
	if a.end != b.end {
		return a.end < b.end
	}
	if a.corr != b.corr {
		return a.corr < b.corr
	}
	return a.key < b.key
}
func (h timerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)   { *h = append(*h, x.(timer)) }
func (h *timerHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func (h *timerHeap) push(t timer) {
	*h = append(*h, t)
	q := *h
	for j := len(q) - 1; j > 0; {
		i := (j - 1) / 2
		if !q.Less(j, i) {
			break
		}
		q.Swap(i, j)
		j = i
	}
}

func (h *timerHeap) pop() timer {
	q := *h
	n := len(q) - 1
	q.Swap(0, n)
	for i := 0; ; {
		j := 2*i + 1
		if j >= n {
			break
		}
		if j2 := j + 1; j2 < n && q.Less(j2, j) {
			j = j2
		}
		if !q.Less(j, i) {
			break
		}
		q.Swap(i, j)
		i = j
	}
	t := q[n]
	q[n] = timer{} // drop the key for the collector
	*h = q[:n]
	return t
}
