#!/usr/bin/env bash
# Makes a self-signed development certificate for localhost (certs/dev-cert.pem, certs/dev-key.pem).
# Never commit the key: .gitignore keeps *.pem out of git. For production use a real certificate.
set -euo pipefail
cd "$(dirname "$0")"
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 365 \
  -subj "/CN=localhost" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
  -keyout dev-key.pem -out dev-cert.pem
chmod 600 dev-key.pem
echo "wrote $(pwd)/dev-cert.pem and dev-key.pem"
