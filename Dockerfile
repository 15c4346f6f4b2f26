# switchyard: an OpenAI-compatible LLM gateway.
#   docker build -t switchyard .
#   docker run -p 8080:8080 -e SWITCHYARD_KEY=... -e OPENAI_API_KEY=... switchyard

# Build stage: dependencies first, in their own layer, so a change to src/ rebuilds only the crate.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /build
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY src ./src
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked

# Runtime stage: no shell, no package manager, a non-root user.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /build/target/release/switchyard /usr/local/bin/switchyard
COPY config/switchyard.toml /etc/switchyard/switchyard.toml
ENV SWITCHYARD_CONFIG=/etc/switchyard/switchyard.toml \
    SWITCHYARD_LISTEN=0.0.0.0:8080 \
    SWITCHYARD_LOG_FORMAT=json
USER 65532:65532
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/switchyard", "health", "--url", "http://127.0.0.1:8080/health"]
ENTRYPOINT ["/usr/local/bin/switchyard"]
CMD ["serve"]
