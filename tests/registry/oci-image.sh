#!/usr/bin/env bash
# Builds an OCI image layout in OUT whose one layer holds BINARY as /pause (entrypoint), tagged
# TAG: a single manifest for PLATFORM, or with several PLATFORMs an index with one manifest
# each (the same layer, as the test only needs the index's platforms to differ).
#   oci-image.sh BINARY OUT TAG linux/amd64 [linux/arm64/v8 ...]
# Needs only tar, gzip, sha256sum; skopeo then copies `oci:OUT:TAG` to a registry.
set -euo pipefail
bin=$1 out=$2 tag=$3
shift 3
mkdir -p "$out/blobs/sha256"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Writes stdin as a blob and prints "digest size".
blob() {
  cat >"$work/blob"
  local sum size
  sum=$(sha256sum "$work/blob" | cut -d' ' -f1)
  size=$(stat -c %s "$work/blob")
  mv "$work/blob" "$out/blobs/sha256/$sum"
  echo "$sum $size"
}

mkdir "$work/root"
cp "$bin" "$work/root/pause"
chmod 755 "$work/root/pause"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work/root" -cf "$work/layer.tar" pause
diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
read -r layer layer_size < <(gzip -n -c "$work/layer.tar" | blob)

manifests=()
for platform in "$@"; do
  IFS=/ read -r os arch variant <<<"$platform"
  variant_json=""
  [ -n "${variant:-}" ] && variant_json=",\"variant\":\"$variant\""
  read -r config config_size < <(printf '{"architecture":"%s","os":"%s"%s,"config":{"Entrypoint":["/pause"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created_by":"pausectl tests"}]}' \
    "$arch" "$os" "$variant_json" "$diff_id" | blob)
  read -r manifest manifest_size < <(printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
    "$config" "$config_size" "$layer" "$layer_size" | blob)
  manifests+=("{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$manifest\",\"size\":$manifest_size,\"platform\":{\"architecture\":\"$arch\",\"os\":\"$os\"$variant_json}}")
done

if [ ${#manifests[@]} -eq 1 ]; then
  top=${manifests[0]}
else
  list=$(IFS=,; echo "${manifests[*]}")
  read -r index index_size < <(printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s]}' "$list" | blob)
  top="{\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"digest\":\"sha256:$index\",\"size\":$index_size}"
fi
# The tag goes on the top descriptor, as skopeo reads `oci:OUT:TAG`.
top=${top%\}}
printf '{"schemaVersion":2,"manifests":[%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' "$top" "$tag" >"$out/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$out/oci-layout"
