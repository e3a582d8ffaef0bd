# The tests' stand-in for golang:1.26-alpine: the busybox base image with
# testdata/go as go, at the path the golang images use.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY go /usr/local/go/bin/go
ENV PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
