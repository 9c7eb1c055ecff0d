package emulator

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/livechat-gateway/gateway/internal/spec"
)

func registerProperties(c *call) (any, *apiError) {
	if err := c.need("properties--my:rw"); err != nil {
		return nil, err
	}
	// The namespace is always the requester's client id.
	ns := c.tok.ClientID
	defs := map[string]*propertyDef{}
	body := c.body.(map[string]any)
	for _, name := range sortedKeys(body) {
		raw, _ := json.Marshal(body[name])
		var d propertyDef
		if err := json.Unmarshal(raw, &d); err != nil {
			return nil, newError(errInternal, "emulator: property type does not match its schema: %v", err)
		}
		// The spec's rules have checked the domain and range; the domain keeps its json.Numbers.
		d.Domain, _ = body[name].(map[string]any)["domain"].([]any)
		if _, ok := c.lic.Props[ns][name]; ok {
			return nil, newError(errAlreadyExist, "property %q already exists in namespace %q", name, ns)
		}
		defs[name] = &d
	}
	if len(defs) > 0 && c.lic.Props[ns] == nil {
		c.lic.Props[ns] = propsByName{}
	}
	for name, d := range defs {
		c.lic.Props[ns][name] = d
	}
	return nil, nil
}

// checkValue checks that v may be set: of the property's type, in its domain and in its range.
func (d *propertyDef) checkValue(path string, v any) *apiError {
	if err := spec.CheckValue(d.Type, path, v); err != nil {
		return invalid(path, "%s", err.(*spec.Violation).Message)
	}
	if d.Domain != nil && !slices.ContainsFunc(d.Domain, func(x any) bool { return sameValue(x, v) }) {
		return invalid(path, "value %v is not in the property's domain", v)
	}
	if d.Range != nil {
		i, _ := strconv.ParseInt(string(v.(json.Number)), 10, 64)
		if (d.Range.From != nil && i < *d.Range.From) || (d.Range.To != nil && i > *d.Range.To) {
			return invalid(path, "value %d is outside the property's range", i)
		}
	}
	return nil
}

// sameValue reports whether two property values of one type are equal. Integers compare by
// value, so that a domain's 1 matches a request's 1 however they were written.
func sameValue(a, b any) bool {
	if x, ok := a.(json.Number); ok {
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		i, err1 := x.Int64()
		j, err2 := y.Int64()
		return err1 == nil && err2 == nil && i == j
	}
	return a == b
}

type listRegisteredPropertiesRequest struct {
	All bool `json:"all"`
}

func listRegisteredProperties(c *call) (any, *apiError) {
	var r listRegisteredPropertiesRequest
	if err := c.decode(&r); err != nil {
		return nil, err
	}
	if err := c.need(mine(!r.All, "properties--my:ro", "properties--all:ro")); err != nil {
		return nil, err
	}
	out := map[string]propsByName{}
	for ns, props := range c.lic.Props {
		if (r.All || ns == c.tok.ClientID) && len(props) > 0 {
			out[ns] = props
		}
	}
	return out, nil
}

// propertyAccess decides whether the requester may read or write property ns.name at location.
// The requester's own namespace is always allowed; any other follows the property's registered
// access for agents, the only users this API has. A property that is not registered is not
// found.
func (c *call) propertyAccess(path, ns, name, location string, write bool) (*propertyDef, *apiError) {
	d := c.lic.Props[ns][name]
	if d == nil {
		return nil, newError(errNotFound, "%s: property %q is not registered in namespace %q", path, name, ns)
	}
	if ns == c.tok.ClientID {
		return d, nil
	}
	access := d.Locations[location].Access["agent"]
	if (write && !access.Write) || (!write && !access.Read) {
		verb := "read"
		if write {
			verb = "write"
		}
		return nil, newError(errAuthorization, "%s: agents may not %s property %s.%s in location %s", path, verb, ns, name, location)
	}
	return d, nil
}

type propertiesRequest struct {
	GroupID         *int64 `json:"group_id"`
	NamespacePrefix string `json:"namespace_prefix"`
	NamePrefix      string `json:"name_prefix"`
}

// values returns the property values of the call's location: the license's, or those of the
// request's group, which must exist. The group's map may be nil; create makes it when a write
// has passed its checks, so that a refused write leaves nothing behind.
func (c *call) values() (location string, vals map[string]map[string]any, create func() map[string]map[string]any, err *apiError) {
	var r propertiesRequest
	if err := c.decode(&r); err != nil {
		return "", nil, nil, err
	}
	if r.GroupID == nil {
		return "license", c.lic.LicenseValues, func() map[string]map[string]any { return c.lic.LicenseValues }, nil
	}
	id := *r.GroupID
	if c.lic.Groups[id] == nil {
		return "", nil, nil, newError(errGroupNotFound, "group_id: group %d not found", id)
	}
	create = func() map[string]map[string]any {
		if c.lic.GroupValues[id] == nil {
			c.lic.GroupValues[id] = map[string]map[string]any{}
		}
		return c.lic.GroupValues[id]
	}
	return "group", c.lic.GroupValues[id], create, nil
}

func updateLicenseProperties(c *call) (any, *apiError) { return updateProperties(c) }
func updateGroupProperties(c *call) (any, *apiError)   { return updateProperties(c) }

// updateProperties sets the request's values, leaving the others as they are.
func updateProperties(c *call) (any, *apiError) {
	location, _, create, err := c.values()
	if err != nil {
		return nil, err
	}
	req := c.field("properties").(map[string]any)
	for _, ns := range sortedKeys(req) {
		props := req[ns].(map[string]any)
		for _, name := range sortedKeys(props) {
			path := "properties." + ns + "." + name
			d, err := c.propertyAccess(path, ns, name, location, true)
			if err != nil {
				return nil, err
			}
			if err := d.checkValue(path, props[name]); err != nil {
				return nil, err
			}
		}
	}
	if !slices.ContainsFunc(mapValues(req), func(p any) bool { return len(p.(map[string]any)) > 0 }) {
		return map[string]any{}, nil // nothing to set, so nothing to record
	}
	vals := create()
	for ns, props := range req {
		if len(props.(map[string]any)) == 0 {
			continue // nothing to set, so nothing to record
		}
		if vals[ns] == nil {
			vals[ns] = map[string]any{}
		}
		for name, v := range props.(map[string]any) {
			vals[ns][name] = v
		}
	}
	return map[string]any{}, nil
}

func listLicenseProperties(c *call) (any, *apiError) { return listProperties(c) }
func listGroupProperties(c *call) (any, *apiError)   { return listProperties(c) }

// listProperties answers the values the requester may read, filtered by the prefixes.
func listProperties(c *call) (any, *apiError) {
	var r propertiesRequest
	if err := c.decode(&r); err != nil {
		return nil, err
	}
	location, vals, _, err := c.values()
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]any{}
	for ns, props := range vals {
		if !strings.HasPrefix(ns, r.NamespacePrefix) {
			continue
		}
		for name, v := range props {
			if !strings.HasPrefix(name, r.NamePrefix) {
				continue
			}
			if _, err := c.propertyAccess("", ns, name, location, false); err != nil {
				continue // a listing leaves out what the requester may not read
			}
			if out[ns] == nil {
				out[ns] = map[string]any{}
			}
			out[ns][name] = v
		}
	}
	return out, nil
}

func deleteLicenseProperties(c *call) (any, *apiError) { return deleteProperties(c) }
func deleteGroupProperties(c *call) (any, *apiError)   { return deleteProperties(c) }

// deleteProperties removes the named values; a name that has no value is no error.
func deleteProperties(c *call) (any, *apiError) {
	location, vals, _, err := c.values()
	if err != nil {
		return nil, err
	}
	req := c.field("properties").(map[string]any)
	for _, ns := range sortedKeys(req) {
		for i, name := range req[ns].([]any) {
			path := "properties." + ns + "[" + strconv.Itoa(i) + "]"
			if _, err := c.propertyAccess(path, ns, name.(string), location, true); err != nil {
				return nil, err
			}
		}
	}
	for ns, names := range req {
		for _, name := range names.([]any) {
			delete(vals[ns], name.(string))
		}
		if len(vals[ns]) == 0 {
			delete(vals, ns)
		}
	}
	return nil, nil
}
