# Shared by the scripts in scripts/ (source it): running things as root with or
# without sudo, and finding or installing the Go toolchain go.mod asks for.

# as_root CMD ARGS...: runs CMD as root: directly when root, through sudo when
# it is there, else prints the exact command to run as root and fails.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    echo "this step needs root and there is no sudo here; as root, run:" >&2
    echo "  $(printf '%q ' "$@")" >&2
    echo "then run $0 again." >&2
    return 1
  fi
}

# go_wanted: the Go version go.mod asks for (e.g. 1.26.8).
go_wanted() { awk '$1 == "go" { print $2; exit }' "${VIRTWATT_ROOT:-.}/go.mod"; }

# version_ge A B: whether version A >= B (dotted numbers, "go" prefix ignored).
version_ge() {
  [ "$(printf '%s\n%s\n' "${1#go}" "${2#go}" | sort -V | head -n1)" = "${2#go}" ]
}

# ensure_go: puts a Go >= go.mod's on PATH. A Go found on PATH or in
# /usr/local/go/bin is used when new enough; a Go 1.21+ that is older fetches
# the wanted toolchain itself (GOTOOLCHAIN, from the module proxy); with no Go
# at all the toolchain module (golang.org/toolchain) is downloaded from the Go
# module proxy ($GOPROXY, the only place the Go tools need) and unpacked into
# /usr/local/go (as root, when free; GO_LOCAL overrides) or ~/sdk/goVERSION.
ensure_go() {
  local want have g
  want=$(go_wanted)
  for g in "$(command -v go 2>/dev/null)" "${GO_LOCAL:-/usr/local/go}/bin/go" "$HOME/sdk/go$want/bin/go"; do
    [ -n "$g" ] && [ -x "$g" ] || continue
    have=$("$g" env GOVERSION 2>/dev/null || true)
    if [ -n "$have" ] && version_ge "$have" "go$want"; then
      export PATH="$(dirname "$g"):$PATH"; return 0
    fi
    if [ -n "$have" ] && version_ge "$have" "go1.21"; then
      export PATH="$(dirname "$g"):$PATH" GOTOOLCHAIN="go$want"
      echo "== $have is older than go.mod's go $want: Go fetches go$want from the module proxy (GOTOOLCHAIN=go$want)"
      go version >/dev/null && return 0
    fi
  done
  install_go "$want"
}

# install_go VERSION: downloads golang.org/toolchain@v0.0.1-goVERSION.OS-ARCH
# from the module proxy and unpacks it; exports PATH.
install_go() {
  local want=$1 arch proxy dest tmp mod
  case "$(uname -m)" in
    x86_64) arch=amd64 ;; aarch64|arm64) arch=arm64 ;; *) arch=$(uname -m) ;;
  esac
  proxy=${GOPROXY:-https://proxy.golang.org}; proxy=${proxy%%[,|]*}
  [ "$proxy" = direct ] || [ "$proxy" = off ] && proxy=https://proxy.golang.org
  local sys=${GO_LOCAL:-/usr/local/go}
  if [ "$(id -u)" -eq 0 ] && [ ! -e "$sys" ]; then dest=$sys; else dest=$HOME/sdk/go$want; fi
  mod="golang.org/toolchain@v0.0.1-go$want.linux-$arch"
  echo "== installing Go $want into $dest (the module $mod from $proxy)"
  command -v curl >/dev/null && command -v unzip >/dev/null || as_root apt-get install -y -qq curl unzip ca-certificates >/dev/null
  tmp=$(mktemp -d)
  curl -fsSL -o "$tmp/go.zip" "$proxy/golang.org/toolchain/@v/v0.0.1-go$want.linux-$arch.zip" || {
    echo "could not download Go $want from $proxy; install Go $want by hand (https://go.dev/dl/) and put it on PATH" >&2
    rm -rf "$tmp"; return 1; }
  unzip -q "$tmp/go.zip" -d "$tmp/x"
  mkdir -p "$(dirname "$dest")"
  rm -rf "$dest"; mv "$tmp/x/$mod" "$dest"; rm -rf "$tmp"
  # Module zips carry no file modes: make the tools executable, as Go does.
  chmod -R a+rX "$dest"; find "$dest/bin" "$dest/pkg/tool" -type f -exec chmod 0755 {} +
  export PATH="$dest/bin:$PATH"
  echo "== $(go version); add it to your PATH: export PATH=$dest/bin:\$PATH"
}
