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
# jemalloc instead of glibc's malloc. Each TLS connection allocates ~45 KB in OpenSSL and
# Node's C++ side; glibc keeps what a wave of connections freed (freed chunks below live
# ones are never returned: 10,000 idle connections left ~550 MB held after they all
# closed), jemalloc returns unused pages after dirty_decay_ms, from its own background
# thread even when the proxy is idle (docs/design.md, "Memory"; bench/memory.ts). The
# symlink gives one path on every architecture.
RUN apt-get update && apt-get install -y --no-install-recommends libjemalloc2 \
  && rm -rf /var/lib/apt/lists/* \
  && ln -s "$(ls /usr/lib/*-linux-gnu/libjemalloc.so.2)" /usr/local/lib/libjemalloc.so.2
ENV LD_PRELOAD=/usr/local/lib/libjemalloc.so.2 \
    MALLOC_CONF=background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0
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
