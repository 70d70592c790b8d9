# The modelcare bundle on the official Airflow image (same Airflow and Python as requirements.txt).
# Two targets: `runtime` (the default, every Airflow service) and `emulator` (the offline profile).
FROM apache/airflow:3.3.2-python3.11 AS base

# Pinned runtime requirements; the constraints file keeps Airflow's own dependencies where the image has them.
COPY --chown=airflow:0 requirements.txt requirements-dev.txt constraints.txt /opt/modelcare/
RUN pip install --no-cache-dir -r /opt/modelcare/requirements.txt -c /opt/modelcare/constraints.txt

# dags/, include/ and plugins/ are mounted by docker-compose.yaml; the bundle root must be importable
# (DAG files import include.modelcare).
ENV PYTHONPATH=/opt/airflow

# The embedded AWS emulator and SMTP sink (`docker compose --profile emulator`): their pins are the ones in
# requirements-dev.txt, installed here at build time so that the container installs nothing when it starts.
FROM base AS emulator
RUN grep -E '^(moto\[server\]|aiosmtpd)==' /opt/modelcare/requirements-dev.txt > /opt/modelcare/emulator.txt \
    && pip install --no-cache-dir -r /opt/modelcare/emulator.txt -c /opt/modelcare/constraints.txt

# Last, so that a plain `docker build .` gives the Airflow image.
FROM base AS runtime
