# The mmsearch API image: REST API + web page, calling model servers (sglang/vllm) and Qdrant over HTTP.
# CPU-only PyTorch keeps it small; for in-process models on a GPU, base it on a CUDA image instead.
#
#   docker build -t mmsearch .
#   docker run -p 8000:8000 -e MMSEARCH_SERVER__WRITE_KEYS=... -e MMSEARCH_SERVER__ALLOWED_HOSTS=search.example.com mmsearch
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MMSEARCH_DATA_DIR=/data \
    MMSEARCH_SERVER__HOST=0.0.0.0 \
    MMSEARCH_SERVER__PORT=8000 \
    HF_HOME=/data/hf

WORKDIR /app

# Tesseract's English data (4 MB) for OCR at ingest (ingest.ocr): PyMuPDF has Tesseract built in and reads
# only the language data. More languages: tesseract-ocr-<lang> here, and ingest.ocr_languages.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tesseract-ocr-eng \
    && rm -rf /var/lib/apt/lists/*


# Dependencies first (cached while only the source changes): the CPU build of torch, then the package.
COPY pyproject.toml README.md ./
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch torchvision
COPY mmsearch ./mmsearch
RUN pip install ".[api]" \
    && useradd --system --uid 10001 --create-home --home-dir /home/mmsearch mmsearch \
    && mkdir -p /data \
    && chown mmsearch:mmsearch /data

USER mmsearch
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('MMSEARCH_SERVER__PORT', '8000')}/healthz\", timeout=4)"]

ENTRYPOINT ["mmsearch"]
CMD ["serve"]
