#!/bin/sh
# Makes the certificates of the secured example (deploy/compose.secure.yml) and
# of the tests: a CA, a server certificate signed by it, and a client certificate
# signed by it (for mutual TLS), all PEM, with the openssl command line.
#
#   deploy/make-certs.sh DIR [NAME...]
#
# DIR/ca.pem, ca.key        the CA (give clients ca.pem: KAFKA_SSL_CA_FILE, REDIS_SSL_CA_FILE)
# DIR/server.pem, .key      for Kafka's TLS terminator and Redis; names NAME... (default:
#                           localhost, kafka, redis) and 127.0.0.1
# DIR/client.pem, .key      a client certificate (KAFKA_SSL_CERT_FILE / KAFKA_SSL_KEY_FILE,
#                           REDIS_SSL_CERT_FILE / REDIS_SSL_KEY_FILE)
#
# Keys are readable by their owner only. See docs/connecting.md.
set -eu

if [ $# -lt 1 ]; then
    echo "usage: $0 DIR [NAME...]" >&2
    exit 2
fi
dir=$1
shift
[ $# -gt 0 ] || set -- localhost kafka redis
days=${CERT_DAYS:-825}

mkdir -p "$dir"
cd "$dir"
umask 077

names="IP:127.0.0.1"
for name in "$@"; do
    names="$names,DNS:$name"
done

openssl req -x509 -newkey rsa:2048 -nodes -days "$days" -subj "/CN=upcoming-meetings test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout ca.key -out ca.pem 2>/dev/null

sign() {  # sign NAME SUBJECT EXTENSIONS
    openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$1.key" -out "$1.csr" 2>/dev/null
    printf '%s\n' "$3" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days "$days" \
        -extfile "$1.ext" -out "$1.pem" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
}

sign server "/CN=$1" "subjectAltName=$names
extendedKeyUsage=serverAuth"
sign client "/CN=upcoming-meetings client" "extendedKeyUsage=clientAuth"
rm -f ca.srl
chmod 644 ca.pem server.pem client.pem
echo "certificates in $dir: ca.pem, server.pem/.key, client.pem/.key"
