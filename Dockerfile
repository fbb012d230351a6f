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
RUN useradd --system --uid 10001 chronik
COPY --from=build /src/target/release/chronik /usr/local/bin/chronik
USER chronik
ENV CHRONIK_ADDR=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["chronik"]
CMD ["serve"]
