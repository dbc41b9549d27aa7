# Packer: bake containerd's pod sandbox ("pause") image pin into a Kubernetes node image.
#
# Settings: the three variables below (or -var on the command line). pausectl is the static
# build (README, "Install"): the dynamic one needs glibc 2.34, which Amazon Linux 2, RHEL 8 and
# Ubuntu 20.04 lack. The build checks its SHA-256 before running it, gates on `--check`
# (0: already pinned, 1: change needed, 2: error, which fails the build), restarts containerd
# only after a write, and fails unless `pausectl show` then reports the pin as the image
# containerd will use.

variable "pause_image" {
  type        = string
  default     = "registry.local:5000/pause:3.10"
  description = "The sandbox image every node pulls: your registry, repository and tag."
}

variable "pausectl_url" {
  type    = string
  default = "https://artifacts.example.internal/pausectl/0.1.0/pausectl-x86_64-static"
}

variable "pausectl_sha256" {
  type        = string
  default     = "replace-with-the-sha256-of-that-file"
  description = "`sha256sum pausectl` of the file at pausectl_url."
}

packer {
  required_plugins {
    amazon = {
      source  = "github.com/hashicorp/amazon"
      version = ">= 1.3.0"
    }
  }
}

# Replace with your builder (amazon-ebs, azure-arm, qemu, ...) and base image.
source "amazon-ebs" "node" {
  ami_name      = "k8s-node-{{timestamp}}"
  instance_type = "t3.medium"
  region        = "eu-west-1"
  source_ami_filter {
    filters = {
      name                = "debian-12-amd64-*"
      virtualization-type = "hvm"
    }
    owners      = ["136693071363"]
    most_recent = true
  }
  ssh_username = "admin"
}

build {
  sources = ["source.amazon-ebs.node"]

  provisioner "shell" {
    environment_vars = [
      "PAUSE_IMAGE=${var.pause_image}",
      "PAUSECTL_URL=${var.pausectl_url}",
      "PAUSECTL_SHA256=${var.pausectl_sha256}",
    ]
    # {{ .Vars }} carries environment_vars: sudo resets the environment.
    execute_command = "chmod +x {{ .Path }}; sudo env {{ .Vars }} sh -eu '{{ .Path }}'"
    inline = [
      # Debian's containerd (its package ships /etc/containerd/config.toml); install yours and
      # kubelet here as you do today. The pin goes into the config that containerd has.
      "apt-get update -qq",
      "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq containerd curl jq",
      "download=$(mktemp)",
      "curl -fsSL --retry 3 -o \"$download\" \"$PAUSECTL_URL\"",
      "echo \"$PAUSECTL_SHA256  $download\" | sha256sum -c -",
      "install -m 0755 \"$download\" /usr/local/bin/pausectl",
      "rm -f \"$download\"",
      # The registry is asked for the image before the write: add --no-verify to the second
      # `set` if this build's network cannot reach it.
      "rc=0; pausectl set --image \"$PAUSE_IMAGE\" --check --quiet || rc=$?",
      "if [ $rc -eq 2 ]; then exit 2; fi",
      "if [ $rc -eq 1 ]; then pausectl set --image \"$PAUSE_IMAGE\" --backup-dir /var/backups/pausectl; systemctl restart containerd; fi",
      # `image` is the image containerd will use (null when its CRI plugin is disabled).
      "if ! pausectl show --json | jq -e --arg want \"$PAUSE_IMAGE\" '.image == $want' >/dev/null; then pausectl show; echo \"containerd will not use $PAUSE_IMAGE\" >&2; exit 1; fi",
    ]
  }
}
