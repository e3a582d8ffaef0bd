# The tests' stand-in for node:22-alpine, since no image can be pulled:
# busybox (from Debian's busybox-static) with its applet links, a world-
# writable /tmp, a `node` user with uid 1000 as in the node images, and
# testdata/npm and testdata/node as npm and node. Built by TestMain from a
# context holding those files.
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "set -e; \
    mkdir -p /usr/bin /sbin /usr/sbin /usr/local/bin /tmp /root /home/node /etc; \
    /bin/busybox --install -s; \
    chmod 1777 /tmp; \
    printf 'root:x:0:0:root:/root:/bin/sh\\nnode:x:1000:1000:node:/home/node:/bin/sh\\n' >/etc/passwd; \
    printf 'root:x:0:\\nnode:x:1000:\\n' >/etc/group; \
    chown 1000:1000 /home/node"]
COPY npm /usr/local/bin/npm
COPY node /usr/local/bin/node
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CMD ["sh"]
