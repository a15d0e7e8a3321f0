# syntax=docker/dockerfile:1
# Triage: one image for the bot and the workers (docs/deploy.md).
#
# There is no compile step yet: bin/triage.js runs the TypeScript sources
# through tsx (a runtime dependency), exactly as `npx triage` does in a
# checkout. The build stage installs the production dependencies only; the
# runtime stage copies them with the sources and runs as the unprivileged
# `node` user.

# ---- build: production dependencies, from the lockfile ----
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# ---- runtime ----
FROM node:20-bookworm-slim AS runtime
# openssh-client: ssh-keygen for the compose `keys` service; the SSH client
# itself is ssh2 (pure JS). tini reaps children and forwards SIGTERM so a
# worker can finish its in-flight steps (`triage worker --grace`).
RUN apt-get update \
    && apt-get install -y --no-install-recommends openssh-client ca-certificates tini \
    && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    TRIAGE_CONFIG=/etc/triage/triage.yaml
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY bin ./bin
COPY src ./src
COPY examples ./examples
# /keys: where the compose `keys` service writes the SSH key (a new named volume takes this owner).
RUN install -d -o node -g node /keys /etc/triage
USER node
# Healthy = the config loads and Redis answers (`triage status` exits 3 otherwise).
HEALTHCHECK --interval=30s --timeout=20s --start-period=20s --retries=3 \
    CMD node bin/triage.js status >/dev/null || exit 1
ENTRYPOINT ["/usr/bin/tini", "--", "node", "bin/triage.js"]
CMD ["bot"]
