package testutil

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// SpecExampleOrder is an order in which the spec's 30 request examples can run against one
// emulator holding SpecWorld: reads after the writes that create what they read, deletes last.
var SpecExampleOrder = []string{
	"create_agent", "get_agent", "list_agents", "update_agent", "suspend_agent", "unsuspend_agent",
	"request_agent_unsuspension", "approve_agent",
	"create_bot", "update_bot", "list_bots", "get_bot", "delete_bot",
	"create_group", "update_group", "list_groups", "get_group",
	"register_properties", "list_registered_properties", "update_license_properties",
	"list_license_properties", "delete_license_properties",
	"update_group_properties", "list_group_properties", "delete_group_properties",
	"register_webhook", "list_registered_webhooks", "unregister_webhook",
	"delete_group", "delete_agent",
}

// SpecToken is the token of the emulator config SpecWorld.
const SpecToken = "dal:spec"

// root is the repository's root directory.
func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// SpecWorld returns the emulator config that holds what the spec's examples name: groups 1, 2, 5
// and 19, the example agents, bots and webhook, and the token SpecToken.
func SpecWorld(t testing.TB) []byte {
	t.Helper()
	return readFile(t, filepath.Join(root(), "internal", "emulator", "testdata", "spec-world.json"))
}

// SpecExample returns the spec's example of action's request ("request") or answer
// ("response"), and whether the spec has one.
func SpecExample(t testing.TB, action, kind string) ([]byte, bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(), "internal", "rest", "testdata", "spec", action+"."+kind+".json"))
	if os.IsNotExist(err) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return b, true
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
