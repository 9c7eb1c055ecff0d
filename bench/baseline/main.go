// Command baseline serves the baselines that `make bench` (bench/run) measures the gateway
// against, each in a process of its own:
//
//	baseline -grpc 127.0.0.1:9191   # B1: a bare grpc-go AgentService, with server reflection
//	baseline -rest 127.0.0.1:8181   # B2: grpc-gateway over B1's implementation, in process
//
// GetAgent answers every call with one fixed Agent held in memory: the gateway's answer to
// get_agent for owner-a@example.com, taken once at start from an in-process emulator and decoded
// as the gateway decodes it, so that both marshal the very same message. B2's mux has the
// gateway's REST options (rest.ServeMuxOptions: its marshaler, error handler and header
// matchers), so that the REST rows differ from B2 only by what the gateway adds.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/reflection"

	configv1 "github.com/livechat-gateway/gateway/gen/livechat/configuration/v1"
	"github.com/livechat-gateway/gateway/internal/action"
	"github.com/livechat-gateway/gateway/internal/emulator"
	"github.com/livechat-gateway/gateway/internal/rest"
	"github.com/livechat-gateway/gateway/internal/wire"
)

func main() {
	grpcAddr := flag.String("grpc", "", "serve B1 (gRPC, with reflection) on this address")
	restAddr := flag.String("rest", "", "serve B2 (grpc-gateway in process) on this address")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *grpcAddr, *restAddr); err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, grpcAddr, restAddr string) error {
	if (grpcAddr == "") == (restAddr == "") {
		return errors.New("give exactly one of -grpc and -rest")
	}
	agent, err := fixedAgent()
	if err != nil {
		return err
	}
	impl := &agents{agent: agent}
	if grpcAddr != "" {
		ln, err := net.Listen("tcp", grpcAddr)
		if err != nil {
			return err
		}
		s := grpc.NewServer()
		configv1.RegisterAgentServiceServer(s, impl)
		reflection.Register(s) // ghz finds the method through reflection, as it does on the gateway
		go func() { <-ctx.Done(); s.Stop() }()
		return s.Serve(ln)
	}
	mux := runtime.NewServeMux(rest.ServeMuxOptions(rest.Options{})...)
	if err := configv1.RegisterAgentServiceHandlerServer(ctx, mux, impl); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", restAddr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux}
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// agents is the AgentService of the baselines: GetAgent returns the fixed Agent and does nothing
// else, which is the least any server of this API can do.
type agents struct {
	configv1.UnimplementedAgentServiceServer
	agent *configv1.GetAgentResponse
}

// GetAgent returns the fixed Agent, whatever the request.
func (s *agents) GetAgent(context.Context, *configv1.GetAgentRequest) (*configv1.GetAgentResponse, error) {
	return s.agent, nil
}

// fixedAgent asks an in-process emulator for get_agent as make bench asks the gateway, and decodes
// its answer as the gateway does.
func fixedAgent() (*configv1.GetAgentResponse, error) {
	e, err := emulator.New()
	if err != nil {
		return nil, err
	}
	a, _ := action.ByName("get_agent")
	req := httptest.NewRequest(http.MethodPost, a.Path(), strings.NewReader(`{"id":"owner-a@example.com"}`))
	req.Header.Set("Authorization", "Bearer dal:owner-a")
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return nil, fmt.Errorf("the emulator answered get_agent with %d: %s", rec.Code, rec.Body)
	}
	resp := &configv1.GetAgentResponse{}
	if err := wire.DecodeResponse(a, rec.Body.Bytes(), resp, wire.LenientUnmarshalOptions()); err != nil {
		return nil, err
	}
	return resp, nil
}
