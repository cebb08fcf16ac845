# Shared by the scripts that drive a real `tamis serve` on loopback (source it; bash only):
#   serve_setup NAME TAMIS SHARED   checks the binary and the shared models, makes $work (a
#                                   temporary directory) and stops the server and removes
#                                   $work on exit
#   serve_start ARGS...             starts `$tamis serve ARGS... --bind 127.0.0.1:0` and waits
#                                   for it to listen: sets $url and $server_pid
#   serve_stop                      SIGTERM; the server must exit on its own with status 0
# Every message starts with NAME.

serve_setup() {
    serve_name="$1"
    tamis="$2"
    shared="$3"
    [ -x "$tamis" ] || { echo "$serve_name: $tamis not found (build it first: cargo build -p tamis-cli)" >&2; exit 1; }
    [ -d "$shared/models" ] || { echo "$serve_name: $shared/models not found (set TAMIS_SHARED_DIR)" >&2; exit 1; }
    work="$(mktemp -d)"
    server_pid=""
    trap serve_cleanup EXIT
}

serve_cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}

serve_start() {
    "$tamis" serve "$@" --bind 127.0.0.1:0 > "$work/serve.out" 2> "$work/serve.err" &
    server_pid=$!
    url=""
    for _ in $(seq 1 240); do
        url="$(sed -n 's/^listening on //p' "$work/serve.out")"
        [ -n "$url" ] && break
        if ! kill -0 "$server_pid" 2>/dev/null; then
            echo "$serve_name: tamis serve exited before listening:" >&2
            cat "$work/serve.err" >&2
            exit 1
        fi
        sleep 0.5
    done
    [ -n "$url" ] || { echo "$serve_name: tamis serve did not start listening within 120 s" >&2; cat "$work/serve.err" >&2; exit 1; }
}

serve_stop() {
    kill -TERM "$server_pid"
    for _ in $(seq 1 40); do
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.25
    done
    if kill -0 "$server_pid" 2>/dev/null; then
        echo "$serve_name: tamis serve did not stop within 10 s of SIGTERM" >&2
        exit 1
    fi
    local status=0
    wait "$server_pid" || status=$?
    server_pid=""
    [ "$status" = 0 ] || { echo "$serve_name: tamis serve exited with status $status after SIGTERM" >&2; exit 1; }
    echo "tamis serve stopped cleanly on SIGTERM"
}
