FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain domain
COPY store store
COPY service service
COPY gql gql
COPY jobs jobs
COPY cli cli
RUN pip install --no-cache-dir .
CMD ["journeys", "serve", "--host", "0.0.0.0"]
