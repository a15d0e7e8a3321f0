# syntax=docker/dockerfile:1
# Triage: one image for the bot and the workers (docs/deploy.md).
#
# build:    all dependencies from the lockfile, then `npm run build`
#           (tsc: src/ -> dist/, plus the runbook YAML and probe scripts, and
#           the one-file bundle dist/triage.cjs the CLI starts from).
# deps:     production dependencies only (`npm ci --omit=dev`).
# runtime:  those dependencies + dist/, run as the unprivileged `node` user.
#           bin/triage.js runs dist/ when its stamp matches src/ (else it
#           would fall back to tsx on src/), so src/ ships too and the stamp
#           is written again here, then checked.

# ---- build: compile to dist/ ----
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
# --ignore-scripts: `prepare` would build before the sources are here; the build runs once, below.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY bin ./bin
COPY src ./src
RUN npm run build

# ---- deps: production dependencies, from the lockfile ----
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# No scripts: `prepare` (the build) needs the dev dependencies left out here.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# ---- runtime ----
FROM node:20-bookworm-slim AS runtime
# openssh-client: ssh-keygen for the compose `keys` service (the SSH client
# itself is ssh2, pure JS). tini reaps children and forwards SIGTERM, so a
# worker can finish its in-flight steps (`triage worker --grace`).
RUN apt-get update \
    && apt-get install -y --no-install-recommends openssh-client ca-certificates tini \
    && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    TRIAGE_CONFIG=/etc/triage/triage.yaml
WORKDIR /app
COPY package.json package-lock.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY bin ./bin
COPY --from=build /app/src ./src
COPY --from=build /app/dist ./dist
COPY examples ./examples
# dist/ was built from exactly this src/; a copy between stages need not keep
# the mtimes the stamp records, so stamp it again, and refuse an image that
# would run the sources instead.
RUN node --input-type=module -e "import { srcKey } from './bin/src-key.js'; import { writeFileSync } from 'node:fs'; writeFileSync('dist/build-stamp.json', JSON.stringify({ src: srcKey('/app/src/'), builtAt: new Date().toISOString() }) + '\n');" \
    && node --input-type=module -e "import { srcKey } from './bin/src-key.js'; import { readFileSync } from 'node:fs'; const s = JSON.parse(readFileSync('dist/build-stamp.json', 'utf8')); if (!s.src || s.src !== srcKey('/app/src/')) { console.error('dist/ does not match src/'); process.exit(1); }" \
    && test -f dist/cli.js && test -f dist/triage.cjs && test -d dist/runbooks/builtin/probes
# The first run of each command writes its V8 code cache here (bin/triage.js); later runs start faster.
RUN install -d -o node -g node dist/cache
# /keys: where the compose `keys` service writes the SSH key (a new named volume takes this owner).
RUN install -d -o node -g node /keys /etc/triage
USER node
# Healthy = the config loads and Redis answers (`triage status` exits 3 otherwise).
HEALTHCHECK --interval=30s --timeout=20s --start-period=20s --retries=3 \
    CMD node bin/triage.js status >/dev/null || exit 1
ENTRYPOINT ["/usr/bin/tini", "--", "node", "bin/triage.js"]
CMD ["bot"]
