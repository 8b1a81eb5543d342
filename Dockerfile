FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY models ./models
COPY service ./service
COPY scripts ./scripts
RUN pip install --no-cache-dir '.[redis]' && useradd --system --no-create-home folio

USER folio
EXPOSE 8000
# Trust X-Forwarded-For only from the proxy named in FORWARDED_ALLOW_IPS (uvicorn reads it).
ENV FORWARDED_ALLOW_IPS=127.0.0.1
CMD ["uvicorn", "service.main:app", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers", \
     "--no-access-log", "--timeout-graceful-shutdown", "30"]
