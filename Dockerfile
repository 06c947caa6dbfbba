# Flux-Gate service image: one image, three commands (gate, worker, migrate). Multi-stage:
# build with dev dependencies, run with production ones only, as the unprivileged node user.
FROM node:26-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# npm ci applies the library patches (postinstall: patch-package); without them it would not.
COPY patches patches
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json vite.config.ts ./
COPY scripts/copy-assets.js scripts/
COPY gen gen
COPY src src
COPY web web
RUN npm run build && npm prune --omit=dev

FROM node:26-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
USER node
# 8080: gRPC, Connect, gRPC-Web and the storefront; 9464: the gate's /metrics, /healthz, /readyz.
EXPOSE 8080 9464
CMD ["node", "--max-semi-space-size=32", "dist/src/main-gate.js"]
