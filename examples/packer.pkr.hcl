# Packer: bake the sandbox image pin into a node image.
#
# The shell provisioner uploads a pausectl binary built beforehand (see README, "Install"),
# gates on `--check` (exit 0: already pinned, 1: change needed, 2: error, which fails the build),
# then pins the image and restarts containerd only when the config changed.
# Replace the source block with your builder (amazon-ebs, azure-arm, qemu, ...).

packer {
  required_plugins {
    amazon = {
      source  = "github.com/hashicorp/amazon"
      version = ">= 1.3.0"
    }
  }
}

variable "pause_image" {
  type        = string
  default     = "registry.local:5000/pause:3.10"
  description = "The sandbox image every node pulls: your registry, repository and tag."
}

variable "pausectl_binary" {
  type    = string
  default = "target/release/pausectl"
}

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

  provisioner "file" {
    source      = var.pausectl_binary
    destination = "/tmp/pausectl"
  }

  provisioner "shell" {
    environment_vars = ["PAUSE_IMAGE=${var.pause_image}"]
    execute_command  = "sudo -E sh -eu '{{ .Path }}'"
    inline = [
      "install -m 0755 /tmp/pausectl /usr/local/bin/pausectl",
      "pausectl show",
      "rc=0; pausectl set --image \"$PAUSE_IMAGE\" --check --quiet || rc=$?",
      "if [ $rc -eq 2 ]; then exit 2; fi",
      "if [ $rc -eq 1 ]; then pausectl set --image \"$PAUSE_IMAGE\" && systemctl restart containerd; fi",
      "pausectl set --image \"$PAUSE_IMAGE\" --check",
    ]
  }
}
