# syntax=docker/dockerfile:1
# rtbroker in a container: a static binary on distroless, as a non-root user,
# with the log in the /data volume.
#
#   docker build --build-arg VERSION="$(git describe --tags --always --dirty)" -t rtbroker .
#   docker run -p 8080:8080 -v rtbroker-data:/data rtbroker
#
# Settings are RTBROKER_* variables (docker run -e RTBROKER_JWT_SECRET=…) or a
# TOML file: -v ./rtbroker.toml:/etc/rtbroker.toml:ro -e RTBROKER_CONFIG=/etc/rtbroker.toml.
# TestDockerfile checks this file (no Docker engine runs in the tests).

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY broker ./broker
COPY cmd ./cmd
COPY gateways ./gateways
COPY internal ./internal
COPY storage ./storage
COPY web ./web
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/rtbroker ./cmd/rtbroker \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/rtbroker /rtbroker
# The volume's mount point belongs to the image's user, so a new volume does too.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV RTBROKER_ADDR=:8080 \
    RTBROKER_DATA=/data
VOLUME ["/data"]
EXPOSE 8080
# The image has no shell and no curl: the binary asks its own /healthz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/rtbroker", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/rtbroker"]
CMD ["serve"]
