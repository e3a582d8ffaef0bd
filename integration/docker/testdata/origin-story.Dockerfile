# DO NOT COPY: the anti-pattern hush replaces, as the app's Dockerfile looked
# before the migration to Dockerfile.example. The secret is passed as a build
# argument (docker build --build-arg CMS_SECRET=...) and kept in an ENV so
# that `npm run build` sees it. TestOriginStoryLeaks builds it to prove that
# the scanner which finds nothing in hush's images does find a secret where
# there is one:
#
#   - ARG values of a RUN step are recorded in `docker history`;
#   - ENV is in the image's config, for anyone who pulls the image;
#   - the .env file a later step writes is in a layer (a common variant:
#     frameworks read .env.production at build or start time).
ARG NODE_IMAGE=node:22-alpine
FROM ${NODE_IMAGE}
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
ARG CMS_SECRET
ENV CMS_SECRET=${CMS_SECRET}
RUN npm run build
RUN printf 'CMS_SECRET=%s\n' "$CMS_SECRET" >.env.production
# The runtime half of the story: a shell as PID 1 that reads the mounted
# secret, forwards no signal and reaps no zombie.
CMD ["sh", "-c", "CMS_SECRET=$(cat /run/secrets/cms-secret) npm start"]
