# The o2c worker and webhook receiver image (see docker-compose.yml).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
# Without o2c/devtools (.dockerignore): production never loads the development tools.
COPY o2c ./o2c
COPY models ./models
COPY workflows ./workflows
COPY activities ./activities
COPY workers ./workers
RUN pip install --no-cache-dir . && useradd --system o2c
USER o2c
CMD ["o2c", "worker"]
