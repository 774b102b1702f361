#!/bin/bash
# The broker of deploy/compose.secure.yml: Apache Kafka (KRaft, one node) with
# one SASL_SSL listener (SCRAM-SHA-512) for every client, its SCRAM users
# created when the storage is formatted. Passwords come from /run/secrets.
set -euo pipefail

secret() { tr -d '\n' < "/run/secrets/$1"; }
admin=$(secret kafka_admin_password)
config=/tmp/server.properties

# The PEM key store: the server's key (PKCS#8) followed by its certificate.
cat /certs/server.key /certs/server.pem > /tmp/server-keystore.pem

cat > "$config" <<PROPERTIES
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@localhost:9093
controller.listener.names=CONTROLLER
listeners=SASL_SSL://:9092,CONTROLLER://localhost:9093
advertised.listeners=SASL_SSL://kafka:9092
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
inter.broker.listener.name=SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$admin";
ssl.keystore.type=PEM
ssl.keystore.location=/tmp/server-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=/certs/ca.pem
ssl.client.auth=none
log.dirs=/var/lib/kafka/data
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
PROPERTIES

/opt/kafka/bin/kafka-storage.sh format --ignore-formatted -t "$CLUSTER_ID" -c "$config" \
    --add-scram "SCRAM-SHA-512=[name=admin,password=$admin]" \
    --add-scram "SCRAM-SHA-512=[name=projector,password=$(secret kafka_projector_password)]" \
    --add-scram "SCRAM-SHA-512=[name=publisher,password=$(secret kafka_publisher_password)]"
exec /opt/kafka/bin/kafka-server-start.sh "$config"
