#!/usr/bin/env bash
# make-test-certs.sh OUTDIR: makes a throwaway certificate authority and the
# certificates the TLS tests need, with the openssl command-line tool.
#
# Everything here is for tests on loopback only: keys are unencrypted, the CA is
# made fresh on every run and no private key is ever committed. Files in OUTDIR:
#   ca.pem                      the test CA's certificate (trust this one)
#   server.pem / server.key     CN=localhost, SAN 127.0.0.1 and localhost, ECDSA P-256,
#                               signed by the CA
#   server-chain.pem            server.pem followed by ca.pem (a PEM chain file)
#   client.pem / client.key     CN=serverlab test client, signed by the CA
#   expired.pem / expired.key   a client certificate whose validity ended in 2020
#   other-ca.pem                a second, unrelated CA
#   stranger.pem / stranger.key a client certificate signed by the other CA
#   wrong.key                   a key that matches none of the certificates
# Exits 2 on a usage error, 1 when openssl fails (its message is printed).
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: tools/make-test-certs.sh OUTDIR" >&2
  exit 2
fi
out=$1
mkdir -p "$out"
cd "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/make-test-certs.XXXXXX")
trap 'rm -rf "$work"' EXIT

newkey() {  # newkey FILE: an unencrypted ECDSA P-256 key
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
  chmod 600 "$1"
}

make_ca() {  # make_ca NAME CN: a self-signed CA valid for 30 days
  newkey "$work/$1.key"
  openssl req -x509 -new -key "$work/$1.key" -subj "/O=serverlab test/CN=$2" -days 30 \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -out "$1.pem"
}

# ca.conf: just enough for `openssl ca`, the one subcommand of OpenSSL 3.0 that can
# set an explicit start and end date (needed for the expired certificate).
cat >"$work/ca.conf" <<CONF
[ca]
default_ca = test
[test]
database = $work/index.txt
new_certs_dir = $work
serial = $work/serial
default_md = sha256
policy = any
copy_extensions = copy
unique_subject = no
[any]
commonName = supplied
organizationName = optional
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
[client_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
CONF
: >"$work/index.txt"
echo 1000 >"$work/serial"

# sign NAME CA EXT CN [STARTDATE ENDDATE]: NAME.key + NAME.pem signed by CA.
sign() {
  local name=$1 ca=$2 ext=$3 cn=$4 start=${5:-} end=${6:-}
  newkey "$name.key"
  openssl req -new -key "$name.key" -subj "/O=serverlab test/CN=$cn" -out "$work/$name.csr"
  local dates=(-days 30)
  [ -n "$start" ] && dates=(-startdate "$start" -enddate "$end")
  openssl ca -batch -notext -config "$work/ca.conf" -cert "$ca.pem" -keyfile "$work/$ca.key" \
    -extensions "$ext" "${dates[@]}" -in "$work/$name.csr" -out "$name.pem" 2>"$work/ca.log" \
    || { cat "$work/ca.log" >&2; exit 1; }
}

make_ca ca "serverlab test CA"
make_ca other-ca "serverlab other CA"
sign server ca server_ext localhost
sign client ca client_ext "serverlab test client"
sign expired ca client_ext "serverlab expired client" 20200101000000Z 20200102000000Z
sign stranger other-ca client_ext "serverlab stranger"
newkey wrong.key
cat server.pem ca.pem >server-chain.pem
