package service

import (
	"hash/maphash"
	"sync/atomic"

	"github.com/livechat-gateway/gateway/internal/action"
)

// checkedBodies remembers request bodies that passed the request checks (wire.CheckDepth and
// spec.CheckBody, pure functions of the action and the body, under a service's fixed depth
// limit), so that a request made again, as every cache hit's is, is not parsed and checked again:
// a tenth of a hit's own work. It is a small direct-mapped table: a body takes the slot its hash
// names, replacing the one there, so it holds at most checkedSlots bodies of at most
// maxCheckedBody bytes. A body is only ever added after it passed; one that fails is checked, and
// refused, every time.
type checkedBodies struct {
	seed  maphash.Seed
	slots [checkedSlots]atomic.Pointer[checkedBody]
}

// checkedSlots and maxCheckedBody bound the table to about a megabyte.
const (
	checkedSlots   = 1024
	maxCheckedBody = 1024
)

type checkedBody struct {
	action *action.Action
	body   string
}

func newCheckedBodies() *checkedBodies { return &checkedBodies{seed: maphash.MakeSeed()} }

func (c *checkedBodies) slot(body []byte) *atomic.Pointer[checkedBody] {
	return &c.slots[maphash.Bytes(c.seed, body)%checkedSlots]
}

// passed reports whether body, a request of a, is known to have passed the checks.
func (c *checkedBodies) passed(a *action.Action, body []byte) bool {
	e := c.slot(body).Load()
	return e != nil && e.action == a && e.body == string(body)
}

// add records that body, a request of a, passed the checks.
func (c *checkedBodies) add(a *action.Action, body []byte) {
	if len(body) <= maxCheckedBody {
		c.slot(body).Store(&checkedBody{action: a, body: string(body)})
	}
}
