# Dockerfile: hush's own image, one static binary on an empty filesystem.
#
# Nobody runs this image as such: other images copy hush out of it, the way
# tini and su-exec are used:
#
#   COPY --from=hushinit/hush:latest /usr/local/bin/hush /usr/local/bin/hush
#   ENTRYPOINT ["/usr/local/bin/hush", "--"]
#
# (Dockerfile.example is a complete image built that way.)
#
# Build it with BuildKit (the default since Docker 23; DOCKER_BUILDKIT=1 with
# older clients), from the repository root:
#
#   docker build -t hushinit/hush .
#       compiles hush from source in a Go stage (the published recipe);
#
#   make build && docker build --build-arg HUSH_BINARY=prebuilt -t hushinit/hush .
#       packages the bin/hush built on the host instead. BuildKit skips the Go
#       stage entirely then: no Go image is pulled and nothing is downloaded.
#       This is the path hush's own tests (integration/docker) exercise,
#       because their build containers cannot reach the Go module proxy.
#
# The two paths put the same file at the same place; only where it was
# compiled differs.

# The Go toolchain image for the from-source path.
ARG GO_IMAGE=golang:1.26-alpine
# Which stage below provides /out/hush: "source" or "prebuilt".
ARG HUSH_BINARY=source

# --- from source: what a release build does ---------------------------------
FROM ${GO_IMAGE} AS source
WORKDIR /src
# Static, reproducible: no cgo (the image has no libc), no local paths.
ENV CGO_ENABLED=0
# Modules first, so that this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/hush ./cmd/hush

# --- prebuilt: the binary `make build` wrote on the host ---------------------
FROM scratch AS prebuilt
COPY bin/hush /out/hush

# Pick one of the two by name (an ARG in FROM may name a stage).
FROM ${HUSH_BINARY} AS binary

# --- the published image -----------------------------------------------------
# scratch: nothing but hush, so `COPY --from` takes exactly one file and the
# image has nothing else to scan or patch.
FROM scratch
COPY --from=binary /out/hush /usr/local/bin/hush
ENTRYPOINT ["/usr/local/bin/hush"]
CMD ["version"]
