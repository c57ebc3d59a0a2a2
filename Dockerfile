# The production image of wxtoken: one static binary FROM scratch, run as
# nobody. The binary carries Mozilla's root certificates
# (golang.org/x/crypto/x509roots/fallback), so it verifies WeChat's and
# WeCom's HTTPS certificates without a CA bundle in the image; set
# SSL_CERT_FILE to a PEM bundle mounted in the container to trust other
# roots instead (a TLS-inspecting egress proxy, a test CA): Go then uses
# that file and not the built-in roots.
#
# The binary is built outside the image, so no Go toolchain image is
# needed:
#
#   scripts/build-image wxtoken:dev
#
# which runs, from the repository root,
#
#   CGO_ENABLED=0 go build -buildvcs=true -trimpath -ldflags="-s -w" -o wxtoken ./server/cmd/wxtoken
#   docker build -t wxtoken:dev -f Dockerfile <a directory holding ./wxtoken>
FROM scratch
COPY wxtoken /wxtoken
USER 65534:65534
EXPOSE 8080
ENTRYPOINT ["/wxtoken"]
CMD ["serve", "--config", "/etc/wxtoken/wxtoken.yaml"]
