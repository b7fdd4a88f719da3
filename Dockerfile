# The voice relay container (infra's RuntimeStack builds it as a CDK DockerImageAsset; `docker build .` works too).
# The ECS task adds --namespace and --fallback-baseline from the registry (infra/stacks/runtime.py relay_command).
# Two stages: dependencies are installed from the pinned constraints in a builder, the runtime image carries the
# virtualenv and the project's packages only, and runs as an unprivileged user.
FROM public.ecr.aws/docker/library/python:3.12-slim AS build
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml constraints.txt README.md ./
COPY registry ./registry
COPY control_plane ./control_plane
COPY voice_runtime ./voice_runtime
COPY cli ./cli
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install -c constraints.txt .

FROM public.ecr.aws/docker/library/python:3.12-slim
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
RUN useradd --system --uid 10001 --home-dir /app voice
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER voice
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"]
CMD ["voicectl", "runtime", "serve", "--host", "0.0.0.0", "--port", "8080"]
