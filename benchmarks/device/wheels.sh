#!/usr/bin/env bash
# Gathers into .whl/ (git-ignored) what benchmarks/device/run.sh installs on a lent
# GPU machine: kmon's own wheel and the pure or cp312 wheels of what that machine's
# image lacks (Keras, Textual, plotext, msgspec, pexpect, pyte). TensorFlow's wheel
# (about 600 MB) is far over what travels (64 MiB), so the GPU run uses Keras's
# torch backend, with the torch that the image already holds.
set -euo pipefail
mkdir -p .whl
rm -f .whl/kmon-*.whl
python3 -m pip wheel -q --no-deps --no-build-isolation -w .whl .
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
    keras==3.15.1 namex==0.1.0 optree==0.20.0 textual==8.2.8 rich==15.0.0 \
    linkify-it-py uc-micro-py platformdirs==4.14.9 plotext==5.3.2 textual-plotext==1.0.1 \
    msgspec==0.23.0 pexpect==4.9.0 ptyprocess==0.7.0 pyte==0.8.2 wcwidth==0.9.4 \
    markdown-it-py==4.3.0 mdurl==0.1.2 pygments==2.21.0
du -sh .whl
