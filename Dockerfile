# syntax=docker/dockerfile:1
#
# One image holds every netmon binary (the four stages, the netmon command and the simulated
# network); docker-compose.yml picks the stage with `command`.
#   docker build -t netmon .
#   docker run --rm netmon netmon help

# ---- build ------------------------------------------------------------------------------------
FROM golang:1.26-bookworm AS build
WORKDIR /src

# Module files first: this layer (and the download) is reused until a dependency changes.
COPY go.work* ./
COPY internal/go.* internal/
COPY proto/go.* proto/
COPY services/planner/go.* services/planner/
COPY services/fetcher/go.* services/fetcher/
COPY services/loader/go.* services/loader/
COPY services/aggregator/go.* services/aggregator/
COPY services/netmon/go.* services/netmon/
COPY services/simnet/go.* services/simnet/
COPY services/bench/go.* services/bench/
COPY deploy/promqltest/go.* deploy/promqltest/
RUN go mod download

COPY . .

# Static binaries (no cgo) so they run on distroless/static; -trimpath keeps build paths out.
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/root/.cache/go-build \
    export CGO_ENABLED=0 GOOS="${TARGETOS:-$(go env GOOS)}" GOARCH="${TARGETARCH:-$(go env GOARCH)}" && \
    go build -trimpath -ldflags "-s -w" -o /out/netmon-planner ./services/planner && \
    go build -trimpath -ldflags "-s -w" -o /out/netmon-fetcher ./services/fetcher && \
    go build -trimpath -ldflags "-s -w" -o /out/netmon-loader ./services/loader && \
    go build -trimpath -ldflags "-s -w" -o /out/netmon-aggregator ./services/aggregator && \
    go build -trimpath -ldflags "-s -w" -o /out/netmon ./services/netmon && \
    go build -trimpath -ldflags "-s -w" -o /out/netmon-simnet ./services/simnet && \
    go build -trimpath -ldflags "-s -w" -o /out/netmon-bench ./services/bench

# ---- run --------------------------------------------------------------------------------------
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
USER nonroot:nonroot
# Each stage serves /metrics, /healthz and /readyz (planner 9101, fetcher 9102, loader 9103,
# aggregator 9104; NETMON_HTTP_ADDR overrides).
EXPOSE 9101 9102 9103 9104
CMD ["netmon", "help"]
