# The topo image: what the rendered deploys run their apply step with (the Container Apps
# job of `topo render azure`, the topo-apply service of `topo render compose`). topo is
# the entrypoint, so a container's arguments are topo's: `docker run IMAGE apply FILE`.
#
# Build: docker build -t topo:latest .   (see docs/render.md for a pipeline that pushes it)

# Build stage: the toolchain, the crates from the committed Cargo.lock.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY templates ./templates
RUN cargo build --release --locked --bin topo

# Final stage: glibc and libgcc only (distroless cc), no shell, no package manager, a
# non-root user. TLS needs no CA files: topo carries the web PKI roots (webpki-roots).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/topo /usr/local/bin/topo
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/topo"]
CMD ["--help"]
