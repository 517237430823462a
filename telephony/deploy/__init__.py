"""The Docker deployment: a Docker engine, local base images, the compose stack."""
