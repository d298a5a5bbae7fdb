#!/bin/sh
# Starts skiffd in the foreground and prints how to talk to it.
set -eu
build=$1 data=$2 listen=$3
mkdir -p "$data"
endpoint="http://$listen"
creds="$(cd "$data" && pwd)/credentials"
cat <<MSG

skiff is starting on $endpoint (data dir: $data).
In another terminal, try:

  AWS_SHARED_CREDENTIALS_FILE=$creds aws --endpoint-url $endpoint --region us-east-1 ecs list-clusters
  AWS_SHARED_CREDENTIALS_FILE=$creds aws --endpoint-url $endpoint --region us-east-1 ecs create-cluster --cluster-name demo

Stop it with Ctrl-C.

MSG
exec "$build/skiffd" --data-dir "$data" --listen "$listen"
