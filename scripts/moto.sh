# Sourced: starts moto_server (a local S3) on a free port, creates the test bucket, exports the
# object_store S3 environment, and stops the server when the calling shell exits (pass or fail).
port="$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
moto_server -H 127.0.0.1 -p "$port" > "${TMPDIR:-/tmp}/lepton-moto-$port.log" 2>&1 &
export MOTO_PID=$!
trap 'kill $MOTO_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  sleep 0.1
done
export AWS_ENDPOINT="http://127.0.0.1:$port" AWS_ALLOW_HTTP=true AWS_ACCESS_KEY_ID=test \
  AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 AWS_CONDITIONAL_PUT=etag
export LEPTON_TEST_S3_BUCKET=lepton-test
curl -sf -X PUT "$AWS_ENDPOINT/$LEPTON_TEST_S3_BUCKET" -o /dev/null
echo "moto_server on $AWS_ENDPOINT (pid $MOTO_PID), bucket $LEPTON_TEST_S3_BUCKET"
