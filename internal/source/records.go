package source

import (
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
)

// RecordFunc decodes one record, v, into e. res is a slice of one resource
// that e.Resources may use. An error makes the record a failed one.
type RecordFunc func(v jsondoc.Value, e *event.Event, res []event.Resource) error

// DecodeRecords decodes every element of list, the record list at path in
// the document at where, with decode, and hands each event to sink or
// reports the record's error at its Location. The events and resources of
// the list are allocated together, one slice each.
func DecodeRecords(list jsondoc.Value, where, path string, sink Sink, decode RecordFunc) {
	n := list.Len()
	if n == 0 {
		return
	}
	evs := make([]event.Event, n)
	res := make([]event.Resource, n)
	list.Elements(func(i int, v jsondoc.Value) bool {
		emit(v, &evs[i], res[i:i+1:i+1], Location{where, path, i}, sink, decode)
		return true
	})
}

// DecodeRecord decodes root, a document that is one record, as
// DecodeRecords decodes each record of a list.
func DecodeRecord(root jsondoc.Value, where string, sink Sink, decode RecordFunc) {
	evs := make([]event.Event, 1)
	res := make([]event.Resource, 1)
	emit(root, &evs[0], res, Location{Where: where, Index: -1}, sink, decode)
}

func emit(v jsondoc.Value, e *event.Event, res []event.Resource, loc Location, sink Sink, decode RecordFunc) {
	if err := decode(v, e, res); err != nil {
		sink.Fail(&RecordError{Where: loc.String(), Err: err})
		return
	}
	sink.Event(e)
}
