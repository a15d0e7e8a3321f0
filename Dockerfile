# Triage: one image for the bot and the workers.
FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends openssh-client ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev
COPY bin ./bin
COPY src ./src
COPY examples ./examples
USER node
ENTRYPOINT ["node", "bin/triage.js"]
CMD ["bot"]
