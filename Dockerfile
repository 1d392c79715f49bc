# package-scheduler as a container image: `docker run … package-scheduler` is one tick (cron,
# Kubernetes CronJob); `… run --every 60` stays up. Build: docker build -t package-scheduler .
ARG NODE_IMAGE=node:22-bookworm-slim

# Build with dev dependencies: TypeScript and the esbuild bundle.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/bundle.js scripts/bundle.js
COPY src src
RUN npm run build

# Production dependencies only (the CLI bundle carries its own; these serve the library entry).
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE}
# VERSION defaults to package.json's (a test keeps them equal); SOURCE is your repository's URL:
# docker build --build-arg SOURCE="$(git remote get-url origin)" -t package-scheduler .
ARG VERSION=1.0.0
ARG SOURCE=
LABEL org.opencontainers.image.title="package-scheduler" \
      org.opencontainers.image.description="Activates and deactivates scheduled special packages in PostgreSQL, one transaction per tick; JSON logs, sysexits exit codes." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="MIT"
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY package.json ./
COPY bin bin
COPY sql sql
# The image's own unprivileged user (uid 1000). Nothing is written at run time except an
# optional --metrics-file, so a read-only root filesystem works.
USER node
# Node is PID 1: no shell in between, so SIGTERM reaches the CLI, which finishes the current
# tick (one-shot) or stops after it (--every) and exits 0.
ENTRYPOINT ["node", "/app/bin/package-scheduler.js"]
CMD ["run"]
# No HEALTHCHECK: a one-shot run exits within a second, before any check could run; for the
# long-running --every mode use `package-scheduler status --max-age 180` as a liveness probe
# (deploy/kubernetes/deployment.yaml).
