#!/usr/bin/env bash
# Make a throw-away PKI for the TLS tests in directory $1 (created):
#   ca.pem                 a test CA (its key ca.key)
#   server.pem/.key        localhost, 127.0.0.1 and ::1, signed by the CA
#   other.pem/.key         other.test (for SNI), signed by the CA
#   expired.pem/.key       localhost, signed by the CA, expired in 2020
#   self.pem/.key          localhost, self-signed
#   client.pem/.key        a client certificate signed by the CA
# EC P-256 keys: fast to make. Nothing here is ever committed.
set -euo pipefail
d=$1
mkdir -p "$d"
cd "$d"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)

openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 2 -subj "/CN=corio test CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    2>/dev/null

# leaf NAME SAN [extra x509 args...]: a CSR signed by the CA.
leaf() {
    local name=$1 san=$2
    shift 2
    openssl req "${ec[@]}" -keyout "$name.key" -out "$name.csr" -subj "/CN=$name" 2>/dev/null
    printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n' \
        "$san" > "$name.ext"
    openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
        -extfile "$name.ext" -out "$name.pem" "$@" 2>/dev/null
}
leaf server "DNS:localhost,IP:127.0.0.1,IP:::1"
leaf other "DNS:other.test"
leaf client "DNS:client.test"

# Expired: `openssl ca` takes explicit dates (x509 -req cannot go back).
mkdir -p caroot
: > caroot/index.txt
echo 1000 > caroot/serial
cat > ca.cnf <<CNF
[ca]
default_ca = test
[test]
dir = caroot
database = caroot/index.txt
serial = caroot/serial
new_certs_dir = caroot
certificate = ca.pem
private_key = ca.key
default_md = sha256
policy = any
copy_extensions = copy
[any]
commonName = supplied
CNF
openssl req "${ec[@]}" -keyout expired.key -out expired.csr -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
openssl ca -batch -config ca.cnf -startdate 20200101000000Z -enddate 20200102000000Z \
    -in expired.csr -out expired.pem -notext 2>/dev/null

openssl req -x509 "${ec[@]}" -keyout self.key -out self.pem -days 2 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
