# Build: the same locked dependencies as CI.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY data ./data
RUN cargo build --release --locked

# Run: the binary carries its migrations, demo data and Swagger UI.
FROM debian:bookworm-slim
RUN useradd --system --uid 10001 chronik \
    && mkdir -p /var/lib/chronik && chown chronik /var/lib/chronik
COPY --from=build /src/target/release/chronik /usr/local/bin/chronik
USER chronik
# The first start writes the initial admin token here (see README, "Tokens and access").
WORKDIR /var/lib/chronik
ENV CHRONIK_ADDR=0.0.0.0:8080
ENV CHRONIK_INITIAL_TOKEN_FILE=/var/lib/chronik/chronik-admin-token
EXPOSE 8080
ENTRYPOINT ["chronik"]
CMD ["serve"]
