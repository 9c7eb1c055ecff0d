# Builds both binaries: the gateway (default) and the emulator.
#   docker build -t livechat-gateway .
#   docker run livechat-gateway                  # the gateway
#   docker run livechat-gateway /livechat-emulator -addr 0.0.0.0:8081
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/gateway ./cmd/gateway && \
    CGO_ENABLED=0 go build -trimpath -o /out/livechat-emulator ./cmd/livechat-emulator

# distroless: no shell, CA certificates for the upstream's HTTPS, runs as nonroot.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gateway /out/livechat-emulator /
EXPOSE 8080 9090
# No shell or curl here: the binary answers the health check itself (GET /healthz on
# GATEWAY_HTTP_ADDR, exit 0 or 1). The emulator, run from this image, overrides it with its own
# `/livechat-emulator -addr <addr> -healthcheck` (docker-compose.yml does).
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/gateway", "-healthcheck"]
ENTRYPOINT []
CMD ["/gateway"]
