# syntax=docker/dockerfile:1.4
# The vnode-runtime release image: the installer (the DaemonSet's entrypoint) and the tree it
# copies onto each node. Built from source, nothing prepared on the build host:
#   docker build --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) \
#     -t ghcr.io/vnode-runtime/vnode:0.1.0 .
# `npm test` builds this file with buildah from a clean copy of the repository
# (e2e/releaseImage.test.ts); see docs/image.md for the stand-in bases it uses there.
#
# Bases are pinned by digest; bump them deliberately (the digest of a tag changes on every
# Debian point release). Both are Debian 12 (bookworm), like the nodes the tree is built for.
ARG NODE_IMAGE=docker.io/library/node:20-bookworm-slim@sha256:2cf067cfed83d5ea958367df9f966191a942351a2df77d6f0193e162b5febfc0
ARG RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim@sha256:3783cc01769c7b2b1b83a5c5ad96c815348e28ed7da68e2e3687004faa906251

# ---- build: compiler, node-gyp, the addon, the launcher, the TypeScript build, runc ----
FROM ${NODE_IMAGE} AS build
ENV DEBIAN_FRONTEND=noninteractive
# The runc shim is Debian's containerd source (golang-github-containerd-containerd-dev) with
# shim/*.patch and its go-runc (golang-github-containerd-go-runc-dev, a dependency) with
# shim/go-runc/*.patch (docs/shim.md), runc is Debian's runc source (golang-github-opencontainers-runc-dev)
# with runc/*.patch (docs/workloads.md), both built with Debian's Go against the Go libraries those
# packages depend on. The tree carries both onto the node.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      g++ gcc make python3 pkg-config libc6-dev libseccomp-dev libfuse3-dev \
      golang-go golang-github-opencontainers-runc-dev golang-github-containerd-containerd-dev golang-github-containerd-go-runc-dev patch \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, from the lockfile only, so a source change does not re-download them.
# Behind a TLS-inspecting proxy, pass its CA bundle as the optional secret `npm_ca`
# (`--secret id=npm_ca,src=/etc/ssl/certs/ca-certificates.crt`); it never enters a layer.
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm --mount=type=secret,id=npm_ca,required=false \
    if [ -s /run/secrets/npm_ca ]; then export npm_config_cafile=/run/secrets/npm_ca; fi \
 && npm ci --no-audit --no-fund
COPY . .
RUN node scripts/build.mjs \
 && build/opt/vnode/bin/runc --version | grep -q '+vnode' \
 && build/opt/vnode/bin/containerd-shim-runc-v2 -v | grep -q '+vnode' \
 && test -x build/opt/vnode/bin/vnode-supervise \
 && test -x build/opt/vnode/bin/vnode-keeper \
 && test -f build/opt/vnode/lib/app/addon/vnode_addon.node

# ---- runtime: the slim base, the install tree, no compiler, no package manager run ----
FROM ${RUNTIME_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="vnode-runtime" \
      org.opencontainers.image.description="vNode: pods in their own logical node (user namespaces, seccomp interception, FUSE /proc and /sys); the installer DaemonSet and the runtime it installs" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/vnode-runtime/vnode" \
      org.opencontainers.image.licenses="Apache-2.0"
# The installer needs, from the base: nsenter (util-linux) to restart containerd and run the
# manager in the host's namespaces, chroot (coreutils) for the host's `containerd --version`, and
# libstdc++ for node and the addon. All three are in debian:bookworm-slim; nothing is installed.
COPY --from=build /src/build/opt/vnode /opt/vnode-image
ENV VNODE_TREE=/opt/vnode-image
# Privileges the DaemonSet keeps (charts/source/objects.ts), none of which can be dropped:
# - root + privileged: it writes the host's containerd config, CNI dir and /opt, restarts
#   containerd and starts the manager, which creates user namespaces and mounts FUSE for pods;
# - hostPID: nsenter into pid 1's namespaces for the restart and the manager;
# - hostNetwork: it must reach the API server before the node's pod network works.
# The installer itself runs no workload code; the manager it starts on the host does.
ENTRYPOINT ["/opt/vnode-image/lib/node", "--enable-source-maps", "/opt/vnode-image/lib/app/installer/installerEntry.js"]
CMD ["run"]
