#!/usr/bin/env bats
# 17-registry: pull and push against Debian's docker-registry on 127.0.0.1.
# Test images are made without shoal (umoci + skopeo + curl); a python3 token
# server signs RS256 JWTs for the token-auth registry; a python3 proxy cuts or
# stalls blob downloads to play a registry that goes away mid-pull.

load helpers

REG_BIN=${REG_BIN:-/usr/bin/docker-registry}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# reg_start NAME PORT [AUTH_YAML] - a docker-registry with its storage in $T/NAME
reg_start() {
    local name=$1 port=$2 auth=${3:-}
    mkdir -p "$T/$name/store"
    cat >"$T/$name/config.yml" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $T/$name/store
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
$auth
YML
    "$REG_BIN" serve "$T/$name/config.yml" >>"$T/$name/log" 2>&1 3>&- &
    echo $! >"$T/$name/pid"
    disown
    retry 50 0.1 curl -s -o /dev/null "http://127.0.0.1:$port/v2/"
}

pid_stop() {
    local f=$1
    [[ -s $f ]] || return 0
    kill "$(<"$f")" 2>/dev/null || true
    rm -f "$f"
}

# The multi-layer image: busybox base, a layer adding /etc/gone and /data/{old1,sub/old2},
# and one deleting /etc/gone (whiteout) and replacing /data (opaque dir) with /data/new.
make_images() {
    local o=$T/oci
    umoci init --layout "$o"
    umoci new --image "$o:multi"
    umoci raw add-layer --image "$o:multi" "$BB_TAR"
    mkdir -p "$T/l2/etc" "$T/l2/data/sub" "$T/l3/etc" "$T/l3/data"
    echo gone >"$T/l2/etc/gone"
    echo old >"$T/l2/data/old1"
    echo old2 >"$T/l2/data/sub/old2"
    touch "$T/l3/etc/.wh.gone" "$T/l3/data/.wh..wh..opq"
    echo new >"$T/l3/data/new"
    tar --numeric-owner -C "$T/l2" -cf "$T/l2.tar" etc data
    tar --numeric-owner -C "$T/l3" -cf "$T/l3.tar" etc data
    umoci raw add-layer --image "$o:multi" "$T/l2.tar"
    umoci raw add-layer --image "$o:multi" "$T/l3.tar"
    umoci config --image "$o:multi" --config.cmd /bin/sh
    mk_image solo 300000
    # images with layers of their own: corrupted in the registry, cut, stalled
    mk_image corrupt 300000
    mk_image big $((24 * 1024 * 1024))
    mk_image big2 $((24 * 1024 * 1024))
}

mk_image() { # NAME BYTES - busybox + a layer holding NAME.bin (random bytes)
    local o=$T/oci name=$1
    umoci new --image "$o:$name"
    mkdir -p "$T/l-$name"
    head -c "$2" /dev/urandom >"$T/l-$name/$name.bin"
    tar --numeric-owner -C "$T/l-$name" -cf "$T/l-$name.tar" "$name.bin"
    umoci raw add-layer --image "$o:$name" "$BB_TAR"
    umoci raw add-layer --image "$o:$name" "$T/l-$name.tar"
}

skopeo_push() { # SRC_TAG DEST
    skopeo copy -q --dest-tls-verify=false --dest-creds "${3:-}" "oci:$T/oci:$1" "docker://$2"
}

skopeo_push_anon() {
    skopeo copy -q --dest-tls-verify=false "oci:$T/oci:$1" "docker://$2"
}

# An index / manifest list in front of test:multi: amd64 -> the real manifest,
# plus an arm64 entry (pointing at the same manifest; never chosen).
push_index() { # TAG MEDIATYPE ENTRY_MEDIATYPE
    local tag=$1 mt=$2 emt=$3 digest size
    digest=$(curl -fsS -o /dev/null -w '%header{docker-content-digest}' -H "Accept: $emt" \
        "http://127.0.0.1:$REG_PORT/v2/test/manifests/multi")
    size=$(curl -fsS -H "Accept: $emt" "http://127.0.0.1:$REG_PORT/v2/test/manifests/multi" | wc -c)
    curl -fsS -X PUT -H "Content-Type: $mt" --data-binary @- \
        "http://127.0.0.1:$REG_PORT/v2/test/manifests/$tag" <<JSON
{"schemaVersion":2,"mediaType":"$mt","manifests":[
 {"mediaType":"$emt","digest":"$digest","size":$size,"platform":{"architecture":"arm64","os":"linux","variant":"v8"}},
 {"mediaType":"$emt","digest":"$digest","size":$size,"platform":{"architecture":"amd64","os":"linux"}}]}
JSON
}

write_token_server() {
    cat >"$T/tokensrv.py" <<'PY'
import base64, json, sys, time, os
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import urlparse, parse_qs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

port, keyf, certf = int(sys.argv[1]), sys.argv[2], sys.argv[3]
key = serialization.load_pem_private_key(open(keyf, "rb").read(), None)
cert = x509.load_pem_x509_certificate(open(certf, "rb").read())
x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()

class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def do_GET(self):
        q = parse_qs(urlparse(self.path).query)
        user = None
        a = self.headers.get("Authorization", "")
        if a.startswith("Basic "):
            u, _, p = base64.b64decode(a[6:]).decode().partition(":")
            if (u, p) != ("alice", "s3cret"):
                self.send_response(401); self.end_headers(); return
            user = u
        access = []
        for s in q.get("scope", []):
            t, name, actions = s.split(":")
            if user:
                access.append({"type": t, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        hdr = {"typ": "JWT", "alg": "RS256", "x5c": [x5c]}
        claims = {"iss": "shoal-test-issuer", "sub": user or "", "aud": q.get("service", [""])[0],
                  "exp": now + 600, "nbf": now - 10, "iat": now, "jti": os.urandom(8).hex(),
                  "access": access}
        si = b64(json.dumps(hdr).encode()) + "." + b64(json.dumps(claims).encode())
        sig = key.sign(si.encode(), padding.PKCS1v15(), hashes.SHA256())
        body = json.dumps({"token": si + "." + b64(sig)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

HTTPServer(("127.0.0.1", port), H).serve_forever()
PY
}

# A reverse proxy to the registry. With $T/proxy.cut present, blob downloads
# over 1 MB stop half-way: "cut" closes the connection, "stall" hangs (the test
# then kills the proxy: the registry is gone).
write_proxy() {
    cat >"$T/proxy.py" <<'PY'
import http.client, os, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, upstream, ctl = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
class P(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_HEAD(self):
        self.fwd(False)
    def do_GET(self):
        self.fwd(True)
    def fwd(self, body):
        c = http.client.HTTPConnection("127.0.0.1", upstream)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        c.request(self.command, self.path, headers=hdrs)
        r = c.getresponse()
        data = r.read() if body else b""
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", r.getheader("Content-Length") if not body else str(len(data)))
        self.end_headers()
        mode = open(ctl).read().strip() if os.path.exists(ctl) else ""
        if body and mode and "/blobs/" in self.path and len(data) > 1 << 20:
            self.wfile.write(data[: len(data) // 2]); self.wfile.flush()
            if mode == "stall":
                open(ctl + ".stalled", "w").close()
                time.sleep(60)
            self.close_connection = True
            return
        self.wfile.write(data)
ThreadingHTTPServer(("127.0.0.1", port), P).serve_forever()
PY
}

proxy_start() {
    python3 "$T/proxy.py" "$PROXY_PORT" "$REG_PORT" "$T/proxy.cut" >>"$T/proxy.log" 2>&1 3>&- &
    echo $! >"$T/proxy.pid"
    disown
    retry 50 0.1 curl -s -o /dev/null "http://127.0.0.1:$PROXY_PORT/v2/"
}

setup_file() {
    suite_setup_file
    [[ -n ${SUITE_SKIP:-} ]] && return 0
    for b in "$REG_BIN" umoci skopeo python3 openssl; do
        if ! command -v "$b" >/dev/null; then
            suite_skip_file "needs $b (scripts/install-deps.sh)"
            return 0
        fi
    done
    REG_PORT=$(free_port)
    AUTH_PORT=$(free_port)
    TOKEN_PORT=$(free_port)
    PROXY_PORT=$(free_port)
    DEAD_PORT=$(free_port)
    export REG_PORT AUTH_PORT TOKEN_PORT PROXY_PORT DEAD_PORT
    reg_start reg "$REG_PORT"
    make_images >"$T/make-images.log" 2>&1
    skopeo_push_anon multi "127.0.0.1:$REG_PORT/test:multi"
    skopeo_push_anon solo "127.0.0.1:$REG_PORT/test:solo"
    skopeo_push_anon big "127.0.0.1:$REG_PORT/test:big"
    skopeo_push_anon big2 "127.0.0.1:$REG_PORT/test:big2"
    skopeo_push_anon corrupt "127.0.0.1:$REG_PORT/test:corrupt"
    push_index index application/vnd.oci.image.index.v1+json \
        application/vnd.oci.image.manifest.v1+json >/dev/null
    push_index list application/vnd.docker.distribution.manifest.list.v2+json \
        application/vnd.oci.image.manifest.v1+json >/dev/null

    # token auth: key + self-signed cert, token server, registry trusting it
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/token.key" -out "$T/token.crt" \
        -days 2 -subj /CN=shoal-test-token >/dev/null 2>&1
    write_token_server
    python3 "$T/tokensrv.py" "$TOKEN_PORT" "$T/token.key" "$T/token.crt" >>"$T/tokensrv.log" 2>&1 3>&- &
    echo $! >"$T/tokensrv.pid"
    disown
    reg_start authreg "$AUTH_PORT" "auth:
  token:
    realm: http://127.0.0.1:$TOKEN_PORT/token
    service: shoal-test
    issuer: shoal-test-issuer
    rootcertbundle: $T/token.crt"
    # wait for the token server, then put the image behind auth with skopeo + a token
    retry 50 0.1 curl -s -o /dev/null "http://127.0.0.1:$TOKEN_PORT/token"
    skopeo_push multi "127.0.0.1:$AUTH_PORT/private:v1" alice:s3cret

    write_proxy
    proxy_start
}

teardown_file() {
    if [[ -n ${T:-} ]]; then
        pid_stop "$T/proxy.pid"
        pid_stop "$T/tokensrv.pid"
        pid_stop "$T/authreg/pid"
        pid_stop "$T/reg/pid"
    fi
    suite_teardown_file
}
teardown() { suite_teardown; }

image_absent() {
    ! docker image inspect "$1" >/dev/null 2>&1
}

@test "docker pull of a multi-layer OCI image shows progress and tags it" {
    run docker pull "127.0.0.1:$REG_PORT/test:multi"
    [ "$status" -eq 0 ]
    [[ $output == *"multi: Pulling from test"* ]]
    [[ $output == *"Pull complete"* ]]
    [[ $output == *"Digest: sha256:"* ]]
    [[ $output == *"Status: Downloaded newer image for 127.0.0.1:$REG_PORT/test:multi"* ]]
    run docker images --format '{{.Repository}}:{{.Tag}}' "127.0.0.1:$REG_PORT/test"
    [ "$output" = "127.0.0.1:$REG_PORT/test:multi" ]
    # again: up to date
    run docker pull "127.0.0.1:$REG_PORT/test:multi"
    [ "$status" -eq 0 ]
    [[ $output == *"Image is up to date"* ]]
}

@test "the pulled image runs with the whiteouts applied" {
    run docker run --rm "127.0.0.1:$REG_PORT/test:multi" ls / /data
    [ "$status" -eq 0 ]
    [[ $output == *bin* ]]
    [[ $output == *"/data:"*new* ]]
    [[ $output != *old1* ]]
    [[ $output != *sub* ]]
    run docker run --rm "127.0.0.1:$REG_PORT/test:multi" ls /etc
    [ "$status" -eq 0 ]
    [[ $output == *passwd* ]]
    [[ $output != *gone* ]]
}

@test "pull by digest" {
    local digest
    digest=$(curl -fsS -o /dev/null -w '%header{docker-content-digest}' \
        -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
        "http://127.0.0.1:$REG_PORT/v2/test/manifests/solo")
    [[ $digest == sha256:* ]]
    run docker pull "127.0.0.1:$REG_PORT/test@$digest"
    [ "$status" -eq 0 ]
    [[ $output == *"Digest: $digest"* ]]
    id=$(curl -fsS "http://127.0.0.1:$REG_PORT/v2/test/manifests/$digest" \
        -H 'Accept: application/vnd.oci.image.manifest.v1+json' | json_get config.digest)
    run docker image inspect -f '{{.Id}}' "$id"
    [ "$status" -eq 0 ]
    [ "$output" = "$id" ]
    # a digest that does not exist
    run docker pull "127.0.0.1:$REG_PORT/test@sha256:$(printf x | sha256sum | cut -c1-64)"
    [ "$status" -ne 0 ]
    [[ $output == *"not found"* ]]
}

@test "pull through an OCI index and a Docker manifest list picks linux/amd64" {
    run docker pull "127.0.0.1:$REG_PORT/test:index"
    [ "$status" -eq 0 ]
    [[ $output == *"Status: Downloaded newer image for 127.0.0.1:$REG_PORT/test:index"* ]]
    run docker pull "127.0.0.1:$REG_PORT/test:list"
    [ "$status" -eq 0 ]
    a=$(docker image inspect -f '{{.Id}}' "127.0.0.1:$REG_PORT/test:index")
    b=$(docker image inspect -f '{{.Id}}' "127.0.0.1:$REG_PORT/test:multi")
    [ "$a" = "$b" ]
    run docker run --rm "127.0.0.1:$REG_PORT/test:list" cat /data/new
    [ "$output" = new ]
}

@test "GET /distribution reports the descriptor and platforms" {
    run curl_api -fsS "http://d/v1.41/distribution/127.0.0.1:$REG_PORT/test:index/json"
    [ "$status" -eq 0 ]
    [ "$(echo "$output" | json_get Descriptor.mediaType)" = application/vnd.oci.image.index.v1+json ]
    [[ $(echo "$output" | json_get Platforms) == *arm64* ]]
    run curl_api -fsS "http://d/v1.41/distribution/127.0.0.1:$REG_PORT/test:multi/json"
    [ "$status" -eq 0 ]
    [ "$(echo "$output" | json_get Platforms.0.architecture)" = amd64 ]
}

@test "unknown tags and unreachable registries are clear errors" {
    run docker pull "127.0.0.1:$REG_PORT/test:nope"
    [ "$status" -ne 0 ]
    [[ $output == *"manifest for 127.0.0.1:$REG_PORT/test:nope not found: manifest unknown"* ]]
    run docker pull "127.0.0.1:$DEAD_PORT/test:x"
    [ "$status" -ne 0 ]
    [[ $output == *"127.0.0.1:$DEAD_PORT"* ]]
    [[ $output == *"onnect"* ]]
}

@test "token auth: anonymous pull is refused, docker login then pull works" {
    run docker pull "127.0.0.1:$AUTH_PORT/private:v1"
    [ "$status" -ne 0 ]
    [[ $output == *"denied"* || $output == *"unauthorized"* || $output == *"authentication required"* ]]
    run docker login -u alice -p wrong "127.0.0.1:$AUTH_PORT"
    [ "$status" -ne 0 ]
    run docker login -u alice --password-stdin "127.0.0.1:$AUTH_PORT" <<<"s3cret"
    [ "$status" -eq 0 ]
    [[ $output == *"Login Succeeded"* ]]
    run docker pull "127.0.0.1:$AUTH_PORT/private:v1"
    [ "$status" -eq 0 ]
    [[ $output == *"Downloaded newer image"* || $output == *"up to date"* ]]
    run docker run --rm "127.0.0.1:$AUTH_PORT/private:v1" cat /data/new
    [ "$output" = new ]
    docker logout "127.0.0.1:$AUTH_PORT"
}

@test "a corrupted blob is rejected with a digest error and leaves no image" {
    local blobs=$T/reg/store/docker/registry/v2/blobs/sha256 digest f
    digest=$(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
        "http://127.0.0.1:$REG_PORT/v2/test/manifests/corrupt" | json_get layers.1.digest)
    digest=${digest#sha256:}
    f=$blobs/${digest:0:2}/$digest/data
    [ -f "$f" ]
    cp "$f" "$T/corrupt-blob.orig"
    head -c "$(stat -c %s "$f")" /dev/urandom >"$f"
    run docker pull "127.0.0.1:$REG_PORT/test:corrupt"
    [ "$status" -ne 0 ]
    [[ $output == *"digest mismatch"* ]]
    image_absent "127.0.0.1:$REG_PORT/test:corrupt"
    [ -z "$(ls -A "$T/d/image/tmp" 2>/dev/null)" ]
    # the registry is repaired: the pull works
    cp "$T/corrupt-blob.orig" "$f"
    run docker pull "127.0.0.1:$REG_PORT/test:corrupt"
    [ "$status" -eq 0 ]
    run docker run --rm "127.0.0.1:$REG_PORT/test:corrupt" ls -l /corrupt.bin
    [[ $output == *300000* ]]
}

@test "a connection cut mid-download fails cleanly and a retry succeeds" {
    echo cut >"$T/proxy.cut"
    run docker pull "127.0.0.1:$PROXY_PORT/test:big"
    [ "$status" -ne 0 ]
    [[ $output == *"error pulling layer"* ]]
    image_absent "127.0.0.1:$PROXY_PORT/test:big"
    [ -z "$(ls -A "$T/d/image/tmp" 2>/dev/null)" ]
    rm -f "$T/proxy.cut"
    run docker pull "127.0.0.1:$PROXY_PORT/test:big"
    [ "$status" -eq 0 ]
}

@test "the registry killed mid-pull: clear error, no image, pull works after a restart" {
    local ppid st
    echo stall >"$T/proxy.cut"
    rm -f "$T/proxy.cut.stalled"
    docker pull "127.0.0.1:$PROXY_PORT/test:big2" >"$T/pull-killed.out" 2>&1 &
    ppid=$!
    retry 100 0.1 test -e "$T/proxy.cut.stalled"
    pid_stop "$T/proxy.pid"
    st=0
    wait "$ppid" || st=$?
    [ "$st" -ne 0 ]
    run cat "$T/pull-killed.out"
    [[ $output == *"error pulling layer"* ]]
    image_absent "127.0.0.1:$PROXY_PORT/test:big2"
    [ -z "$(ls -A "$T/d/image/tmp" 2>/dev/null)" ]
    rm -f "$T/proxy.cut"
    proxy_start
    run docker pull "127.0.0.1:$PROXY_PORT/test:big2"
    [ "$status" -eq 0 ]
    run docker run --rm "127.0.0.1:$PROXY_PORT/test:big2" ls -l /big2.bin
    [[ $output == *25165824* ]]
}

@test "docker push of a local image, then pull it back under another name" {
    docker tag "127.0.0.1:$REG_PORT/test:multi" "127.0.0.1:$REG_PORT/pushed:v1"
    run docker push "127.0.0.1:$REG_PORT/pushed:v1"
    [ "$status" -eq 0 ]
    [[ $output == *"The push refers to repository [127.0.0.1:$REG_PORT/pushed]"* ]]
    [[ $output == *Pushed* ]]
    [[ $output == *"v1: digest: sha256:"* ]]
    run docker push "127.0.0.1:$REG_PORT/pushed:v1"
    [ "$status" -eq 0 ]
    [[ $output == *"Layer already exists"* ]]
    # the registry serves it to a standard tool
    run skopeo inspect --tls-verify=false "docker://127.0.0.1:$REG_PORT/pushed:v1"
    [ "$status" -eq 0 ]
    # back under another name: copy with skopeo, pull with docker
    skopeo copy -q --src-tls-verify=false --dest-tls-verify=false \
        "docker://127.0.0.1:$REG_PORT/pushed:v1" "docker://127.0.0.1:$REG_PORT/again:v2"
    run docker pull "127.0.0.1:$REG_PORT/again:v2"
    [ "$status" -eq 0 ]
    run docker run --rm "127.0.0.1:$REG_PORT/again:v2" cat /data/new
    [ "$output" = new ]
    skopeo copy -q --src-tls-verify=false --dest-tls-verify=false \
        "docker://127.0.0.1:$REG_PORT/pushed:v1" "docker://127.0.0.1:$REG_PORT/auto:v3"
    # an imported image (never pulled) pushes too
    docker tag bb:latest "127.0.0.1:$REG_PORT/bb:imported"
    run docker push "127.0.0.1:$REG_PORT/bb:imported"
    [ "$status" -eq 0 ]
}

@test "docker run auto-pulls a missing image" {
    image_absent "127.0.0.1:$REG_PORT/auto:v3"
    run docker run --rm "127.0.0.1:$REG_PORT/auto:v3" cat /data/new
    [ "$status" -eq 0 ]
    [[ $output == *"Unable to find image"* ]]
    [[ $output == *new* ]]
}

@test "shoal run auto-pulls a missing image" {
    requires_shoal_cli
    docker rmi -f "127.0.0.1:$REG_PORT/auto:v3" >/dev/null 2>&1 || true
    image_absent "127.0.0.1:$REG_PORT/auto:v3"
    run shoal run --rm "127.0.0.1:$REG_PORT/auto:v3" cat /data/new
    [ "$status" -eq 0 ]
    [[ $output == *"Unable to find image"* ]]
    [[ $output == *new* ]]
    run shoal run --rm "127.0.0.1:$REG_PORT/nothing:here" true
    [ "$status" -eq 125 ]
}

@test "shoal pull, push, login" {
    requires_shoal_cli
    run shoal pull "127.0.0.1:$REG_PORT/test:index"
    [ "$status" -eq 0 ]
    [[ $output == *"Status: "* ]]
    run shoal pull -q "127.0.0.1:$REG_PORT/test:solo"
    [ "$status" -eq 0 ]
    [ "$output" = "127.0.0.1:$REG_PORT/test:solo" ]
    docker tag bb:latest "127.0.0.1:$REG_PORT/bb:shoal"
    run shoal push "127.0.0.1:$REG_PORT/bb:shoal"
    [ "$status" -eq 0 ]
    [[ $output == *"shoal: digest: sha256:"* ]]
    export HOME=$T/home
    mkdir -p "$HOME"
    run shoal pull "127.0.0.1:$AUTH_PORT/private:v1"
    [ "$status" -ne 0 ]
    run shoal login -u alice -p s3cret "127.0.0.1:$AUTH_PORT"
    [ "$status" -eq 0 ]
    [[ $output == *"Login Succeeded"* ]]
    [ "$(stat -c %a "$HOME/.config/shoal/auth.json")" = 600 ]
    run shoal pull "127.0.0.1:$AUTH_PORT/private:v1"
    [ "$status" -eq 0 ]
    run shoal logout "127.0.0.1:$AUTH_PORT"
    [ "$status" -eq 0 ]
    ! grep -q "127.0.0.1:$AUTH_PORT" "$HOME/.config/shoal/auth.json"
}
