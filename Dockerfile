# ztproxy: a small non-root image. Node 24 runs the TypeScript sources directly (type
# stripping), so the build stage only installs production dependencies.
#   docker build -t ztproxy .
#   docker run -p 8443:8443 -v $PWD/config:/app/config:ro -v $PWD/certs:/app/certs:ro ztproxy
FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=dev: no test tools, no pinned `node` package (the image's Node 24 runs it).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
# Config and certificates are mounted, never baked in (keys must not live in images).
RUN mkdir -p /app/config /app/certs && chown -R node:node /app/config /app/certs
USER node
EXPOSE 8443 9901
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:9901/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "bin/ztproxy.js"]
CMD ["start", "-c", "/app/config/ztproxy.yaml"]
