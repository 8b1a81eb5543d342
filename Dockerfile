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
# Behind a proxy: --proxy-headers takes the client address and scheme (X-Forwarded-For and
# -Proto) only from the proxy named in FORWARDED_ALLOW_IPS (uvicorn's --forwarded-allow-ips);
# set it to your proxy's address, e.g. `docker run -e FORWARDED_ALLOW_IPS=10.0.0.2`.
ENV FORWARDED_ALLOW_IPS=127.0.0.1
CMD ["uvicorn", "service.main:app", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers", \
     "--no-access-log", "--timeout-graceful-shutdown", "30"]
