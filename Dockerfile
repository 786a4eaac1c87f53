# The vnode-runtime image: the installer (the DaemonSet's entrypoint) and the tree it installs.
# Build the tree first (`node scripts/build.mjs` writes build/opt/vnode), then:
#   docker build -t ghcr.io/vnode-runtime/vnode:0.1.0 .
# No Docker engine runs on the development machine; the e2e builds the same file layout as an OCI
# image layout tar with installer/image/installerImage.ts (buildInstallerImage) and imports it
# with `ctr images import`.
FROM debian:bookworm-slim

# nsenter (util-linux) restarts containerd and runs the manager in the host's namespaces; chroot
# (coreutils) runs the host's `containerd --version`. Both are in the slim base already; the
# manager's own native dependencies come with the tree.
RUN apt-get update \
 && apt-get install -y --no-install-recommends util-linux coreutils libseccomp2 libfuse3-3 \
 && rm -rf /var/lib/apt/lists/*

COPY build/opt/vnode /opt/vnode-image

ENV VNODE_TREE=/opt/vnode-image
ENTRYPOINT ["/opt/vnode-image/lib/node", "--enable-source-maps", "/opt/vnode-image/lib/app/installer/installerEntry.js"]
CMD ["run"]
