#!/bin/sh
# Install a Debian package where its command is missing and we may (root, or sudo without a
# password); otherwise say what will not work without it. Used by `make test` (chromium, bubblewrap).
#   sh tools/apt_install.sh PACKAGE COMMAND "what happens without it"
package=$1 command=$2 consequence=$3
command -v "$command" >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ]; then sudo=""
elif sudo -n true 2>/dev/null; then sudo="sudo"
else
    echo "WARNING: $command is missing and we cannot install $package (not root, no sudo): $consequence"
    exit 0
fi
echo "installing $package (${sudo:+sudo }apt-get)"
{ $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null; } \
    || echo "WARNING: could not install $package: $consequence"
