# The tests' stand-in for node:22-alpine, since no image can be pulled:
# busybox (from Debian's busybox-static) with its applet links, a world-
# writable /tmp, a `node` user with uid 1000 as in the node images, and the
# host's real node and npm. Built by TestMain from a context holding busybox,
# testdata/app, and rootfs/: node, every shared library it links (ldd) and
# npm's package, each at its path on the host (hostnode_test.go).
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "set -e; \
    mkdir -p /usr/bin /sbin /usr/sbin /usr/local/bin /tmp /root /home/node /etc /usr/etc; \
    /bin/busybox --install -s; \
    chmod 1777 /tmp; \
    printf 'root:x:0:0:root:/root:/bin/sh\\nnode:x:1000:1000:node:/home/node:/bin/sh\\n' >/etc/passwd; \
    printf 'root:x:0:\\nnode:x:1000:\\n' >/etc/group; \
    chown 1000:1000 /home/node"]
COPY rootfs/ /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# npm's global config (its prefix is /usr, from node's path). No registry can
# be reached from the test machines: the app has no dependencies, so `npm ci`
# needs none, and the audit, funding and update checks would only try the
# network. Then fail here, not in a test, if node or npm cannot start.
RUN printf 'offline=true\naudit=false\nfund=false\nupdate-notifier=false\n' >/usr/etc/npmrc && \
    node --version && npm --version
COPY app /usr/local/bin/test-app
CMD ["sh"]
