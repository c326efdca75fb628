# The o2c image (see docker-compose.yml): the worker, the webhook receiver, the codec server, the finance
# console and migrations.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
# Without o2c/devtools (.dockerignore): production never loads the development tools. The console's
# templates, CSS and scripts under o2c/web are installed as package data (pyproject.toml; a test checks
# that every file there is listed).
COPY o2c ./o2c
COPY models ./models
COPY workflows ./workflows
COPY activities ./activities
COPY workers ./workers
RUN pip install --no-cache-dir . && useradd --system o2c
USER o2c
CMD ["o2c", "worker"]
