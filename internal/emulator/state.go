package emulator

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/livechat-gateway/gateway/internal/spec"
)

// allScopes are the scopes the spec's "Required scopes" name. A token configured with "*" holds
// all of them, and one with "*:ro" holds those ending in ":ro".
var allScopes = []string{
	"accounts--all:rc", "accounts--all:rw", "accounts--my:rw", "accounts.roles.lc--all:rw",
	"subscription.lc:rw", "sessions--all:rw",
	"agents--my:ro", "agents--my:rw", "agents--all:ro", "agents--all:rw",
	"agents-bot--my:ro", "agents-bot--my:rw", "agents-bot--all:ro", "agents-bot--all:rw",
	"groups--my:ro", "groups--my:rw", "groups--all:ro", "groups--all:rw",
	"properties--my:ro", "properties--my:rw", "properties--all:ro",
	"webhooks--my:ro", "webhooks--my:rw", "webhooks--all:ro", "webhooks--all:rw",
}

// regions are the data centers the spec names; dal is the default.
var regions = []string{"dal", "fra"}

const defaultRegion = "dal"

// Config describes licenses and the tokens that reach them, as loaded from a JSON file. The
// emulator always starts with its built-in config (builtin.json); a Config adds to it.
type Config struct {
	Licenses []LicenseConfig `json:"licenses"`
	Tokens   []TokenConfig   `json:"tokens"`
}

// LicenseConfig is one license and, optionally, what it holds at start. The agents, bots and
// webhooks are the bodies of create_agent, create_bot and register_webhook, and are checked by the
// same rules, with the ids the spec's examples use given explicitly.
type LicenseConfig struct {
	ID      string `json:"id"`
	Region  string `json:"region"`
	Expired bool   `json:"expired,omitempty"` // every call answers license_expired
	Owner   struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"owner"`
	// Groups are created first, with their ids, and without members.
	Groups []struct {
		ID           int64  `json:"id"`
		Name         string `json:"name"`
		LanguageCode string `json:"language_code,omitempty"`
	} `json:"groups,omitempty"`
	Agents   []json.RawMessage `json:"agents,omitempty"`
	Bots     []SeedBot         `json:"bots,omitempty"`
	Webhooks []SeedWebhook     `json:"webhooks,omitempty"`
}

// SeedBot is a bot that exists at start: its id, the client id of the application that owns it,
// and a create_bot body.
type SeedBot struct {
	ID       string          `json:"id"`
	ClientID string          `json:"client_id"`
	Bot      json.RawMessage `json:"bot"`
}

// SeedWebhook is a webhook that exists at start: its id, the client id that owns it, and a
// register_webhook body.
type SeedWebhook struct {
	ID            string          `json:"webhook_id"`
	OwnerClientID string          `json:"owner_client_id"`
	Webhook       json.RawMessage `json:"webhook"`
}

// TokenConfig is one access token. The token's prefix before ":" is its region.
type TokenConfig struct {
	Token    string `json:"token"`
	License  string `json:"license"`
	Agent    string `json:"agent"`     // the requester, an agent of the license
	ClientID string `json:"client_id"` // the application; its property namespace
	// Scopes lists the token's scopes; "*" stands for all of them and "*:ro" for the read-only
	// ones.
	Scopes []string `json:"scopes"`
	// Personal marks a personal access token (PAT), which may register fewer webhooks.
	Personal bool `json:"personal,omitempty"`
}

// ParseConfig reads a Config from JSON, refusing unknown fields.
func ParseConfig(b []byte) (*Config, error) {
	var c Config
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&c); err != nil {
		return nil, fmt.Errorf("emulator config: %w", err)
	}
	return &c, nil
}

//go:embed builtin.json
var builtinJSON []byte

// token is a configured access token.
type token struct {
	TokenConfig
	region string
	scopes map[string]bool
}

// license is the state of one license.
type license struct {
	ID       string                 `json:"id"`
	Region   string                 `json:"region"`
	Expired  bool                   `json:"expired,omitempty"`
	Owner    string                 `json:"owner"`
	Agents   map[string]*agent      `json:"agents"`
	Bots     map[string]*bot        `json:"bots"`
	Groups   map[int64]*group       `json:"groups"`
	Webhooks map[string]*webhook    `json:"webhooks"`
	Props    map[string]propsByName `json:"registered_properties"`
	// LicenseValues and GroupValues are property values: namespace → name → value.
	LicenseValues map[string]map[string]any           `json:"license_properties"`
	GroupValues   map[int64]map[string]map[string]any `json:"group_properties"`
	NextGroupID   int64                               `json:"next_group_id"`
	// Seq orders agents, bots and webhooks by creation, which is the order of listings.
	Seq int `json:"seq"`
}

type propsByName = map[string]*propertyDef

type workHours struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

type agent struct {
	Seq                int                  `json:"seq"`
	ID                 string               `json:"id"`
	Name               string               `json:"name"`
	Role               string               `json:"role"`
	AvatarPath         string               `json:"avatar_path,omitempty"`
	LoginStatus        string               `json:"login_status"`
	JobTitle           string               `json:"job_title,omitempty"`
	Mobile             string               `json:"mobile,omitempty"`
	MaxChatsCount      int                  `json:"max_chats_count"`
	AwaitingApproval   bool                 `json:"awaiting_approval"`
	Suspended          bool                 `json:"suspended"`
	Notifications      []string             `json:"notifications"`
	EmailSubscriptions []string             `json:"email_subscriptions"`
	WorkScheduler      map[string]workHours `json:"work_scheduler,omitempty"`
}

type bot struct {
	Seq                  int                  `json:"seq"`
	ID                   string               `json:"id"`
	Name                 string               `json:"name"`
	Avatar               string               `json:"avatar,omitempty"`
	Status               string               `json:"status"`
	ClientID             string               `json:"client_id"`
	Personal             bool                 `json:"personal,omitempty"` // created with a PAT
	MaxChatsCount        int                  `json:"max_chats_count"`
	DefaultGroupPriority string               `json:"default_group_priority,omitempty"`
	JobTitle             string               `json:"job_title,omitempty"`
	Webhooks             map[string]any       `json:"webhooks,omitempty"`
	WorkScheduler        map[string]workHours `json:"work_scheduler,omitempty"`
}

type group struct {
	ID           int64  `json:"id"`
	Name         string `json:"name"`
	LanguageCode string `json:"language_code"`
	// Members maps agent and bot ids to their routing priority. It is the one record of
	// membership: agents' and bots' groups are read from it.
	Members map[string]string `json:"members"`
}

type propertyDef struct {
	Type        string                      `json:"type"`
	Description string                      `json:"description"`
	Locations   map[string]propertyLocation `json:"locations"`
	Domain      []any                       `json:"domain,omitempty"`
	Range       *propertyRange              `json:"range,omitempty"`
}

type propertyLocation struct {
	Access map[string]propertyAccess `json:"access"`
}

type propertyAccess struct {
	Read  bool `json:"read"`
	Write bool `json:"write"`
}

type propertyRange struct {
	From *int64 `json:"from,omitempty"`
	To   *int64 `json:"to,omitempty"`
}

type webhook struct {
	Seq            int            `json:"seq"`
	ID             string         `json:"webhook_id"`
	URL            string         `json:"url"`
	Description    string         `json:"description,omitempty"`
	Action         string         `json:"action"`
	SecretKey      string         `json:"secret_key"`
	Filters        map[string]any `json:"filters,omitempty"`
	AdditionalData []string       `json:"additional_data,omitempty"`
	OwnerClientID  string         `json:"owner_client_id"`
	Personal       bool           `json:"personal,omitempty"`
}

// generalGroup is group 0, which every license has and nobody can delete.
const generalGroup = 0

// testNamespace holds the spec's test properties, present in every license.
const testNamespace = "test"

func newLicense(lc *LicenseConfig) *license {
	l := &license{
		ID: lc.ID, Region: lc.Region, Expired: lc.Expired, Owner: lc.Owner.ID,
		Agents:        map[string]*agent{},
		Bots:          map[string]*bot{},
		Groups:        map[int64]*group{},
		Webhooks:      map[string]*webhook{},
		Props:         map[string]propsByName{},
		LicenseValues: map[string]map[string]any{},
		GroupValues:   map[int64]map[string]map[string]any{},
		NextGroupID:   1,
	}
	l.Groups[generalGroup] = &group{ID: generalGroup, Name: "General", LanguageCode: "en", Members: map[string]string{}}
	everyone := propertyLocation{Access: map[string]propertyAccess{
		"agent": {Read: true, Write: true}, "customer": {Read: true, Write: true},
	}}
	test := propsByName{}
	for _, typ := range spec.PropertyTypes {
		def := &propertyDef{Type: typ, Locations: map[string]propertyLocation{}}
		for _, loc := range spec.Locations {
			def.Locations[loc] = everyone
		}
		test[typ+"_property"] = def
	}
	l.Props[testNamespace] = test
	l.Seq++
	l.Agents[lc.Owner.ID] = &agent{
		Seq: l.Seq, ID: lc.Owner.ID, Name: lc.Owner.Name, Role: "owner",
		LoginStatus: "not accepting chats", MaxChatsCount: spec.AgentDefaultMaxChats,
	}
	l.Groups[generalGroup].Members[lc.Owner.ID] = "normal"
	return l
}

// world is all of the emulator's state. One mutex guards it: the emulator is a test double, and
// serializing its calls keeps every action trivially atomic.
type world struct {
	licenses map[string]*license
	tokens   map[string]*token
	rand     *rand.Rand
}

// load adds c's licenses and tokens to w, checking them as it goes.
func (w *world) load(c *Config) error {
	for i := range c.Licenses {
		lc := &c.Licenses[i]
		if err := w.addLicense(lc); err != nil {
			return fmt.Errorf("emulator config: license %q: %w", lc.ID, err)
		}
	}
	for _, tc := range c.Tokens {
		if err := w.addToken(tc); err != nil {
			return fmt.Errorf("emulator config: token for agent %q: %w", tc.Agent, err)
		}
	}
	return nil
}

func (w *world) addLicense(lc *LicenseConfig) error {
	switch {
	case lc.ID == "":
		return fmt.Errorf("id is required")
	case w.licenses[lc.ID] != nil:
		return fmt.Errorf("defined twice")
	case !slices.Contains(regions, lc.Region):
		return fmt.Errorf("region %q is not one of %v", lc.Region, regions)
	case lc.Owner.ID == "" || lc.Owner.Name == "":
		return fmt.Errorf("owner id and name are required")
	}
	l := newLicense(lc)
	for _, g := range lc.Groups {
		if g.ID <= generalGroup || l.Groups[g.ID] != nil || g.Name == "" {
			return fmt.Errorf("group %d: needs a new id above 0 and a name", g.ID)
		}
		lang := g.LanguageCode
		if lang == "" {
			lang = "en"
		}
		l.Groups[g.ID] = &group{ID: g.ID, Name: g.Name, LanguageCode: lang, Members: map[string]string{}}
		l.NextGroupID = max(l.NextGroupID, g.ID+1)
	}
	owner := &token{TokenConfig: TokenConfig{Agent: lc.Owner.ID, Scopes: []string{"*"}}}
	owner.resolveScopes()
	seed := func(action string, body []byte, tok *token, id string) error {
		c := &call{w: w, lic: l, tok: tok, fixedID: id}
		if err := c.parse(action, body); err != nil {
			return err
		}
		if _, err := handlers[action](c); err != nil {
			return err
		}
		return nil
	}
	for i, a := range lc.Agents {
		if err := seed("create_agent", a, owner, ""); err != nil {
			return fmt.Errorf("agent %d: %w", i, err)
		}
	}
	for _, b := range lc.Bots {
		tok := *owner
		tok.ClientID = b.ClientID
		if b.ID == "" || b.ClientID == "" {
			return fmt.Errorf("bot: id and client_id are required")
		}
		if err := seed("create_bot", b.Bot, &tok, b.ID); err != nil {
			return fmt.Errorf("bot %s: %w", b.ID, err)
		}
	}
	for _, h := range lc.Webhooks {
		tok := *owner
		tok.ClientID = h.OwnerClientID
		if h.ID == "" || h.OwnerClientID == "" {
			return fmt.Errorf("webhook: webhook_id and owner_client_id are required")
		}
		if err := seed("register_webhook", h.Webhook, &tok, h.ID); err != nil {
			return fmt.Errorf("webhook %s: %w", h.ID, err)
		}
	}
	w.licenses[l.ID] = l
	return nil
}

func (w *world) addToken(tc TokenConfig) error {
	region, _, ok := strings.Cut(tc.Token, ":")
	l := w.licenses[tc.License]
	switch {
	case !ok || !slices.Contains(regions, region):
		return fmt.Errorf("token must start with a region prefix, one of %v", regions)
	case w.tokens[tc.Token] != nil:
		return fmt.Errorf("token defined twice")
	case l == nil:
		return fmt.Errorf("unknown license %q", tc.License)
	case l.Region != region:
		return fmt.Errorf("token region %q differs from license region %q", region, l.Region)
	case l.Agents[tc.Agent] == nil:
		return fmt.Errorf("agent %q is not in license %q", tc.Agent, tc.License)
	case tc.ClientID == "":
		return fmt.Errorf("client_id is required")
	}
	t := &token{TokenConfig: tc, region: region}
	if err := t.resolveScopes(); err != nil {
		return err
	}
	w.tokens[tc.Token] = t
	return nil
}

// resolveScopes expands the token's configured scopes.
func (t *token) resolveScopes() error {
	t.scopes = map[string]bool{}
	for _, s := range t.Scopes {
		switch {
		case s == "*":
			for _, x := range allScopes {
				t.scopes[x] = true
			}
		case s == "*:ro":
			for _, x := range allScopes {
				if strings.HasSuffix(x, ":ro") {
					t.scopes[x] = true
				}
			}
		case slices.Contains(allScopes, s):
			t.scopes[s] = true
		default:
			return fmt.Errorf("unknown scope %q", s)
		}
	}
	return nil
}

// has reports whether the token grants scope s. A read-write scope grants the read-only one, and
// a scope over all resources grants the one over the requester's own ("agents--all:ro" grants
// "agents--my:ro").
func (t *token) has(s string) bool {
	if t.scopes[s] {
		return true
	}
	if r, ok := strings.CutSuffix(s, ":ro"); ok && t.has(r+":rw") {
		return true
	}
	if strings.Contains(s, "--my:") && t.has(strings.Replace(s, "--my:", "--all:", 1)) {
		return true
	}
	return false
}

// newID returns a random lowercase hex id of n characters, as the upstream's bot ids are.
func (w *world) newID(n int) string {
	const hex = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = hex[w.rand.IntN(len(hex))]
	}
	return string(b)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func mapValues[K comparable, V any](m map[K]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
