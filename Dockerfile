# The modelcare bundle on the official Airflow image (same Airflow and Python as requirements.txt).
FROM apache/airflow:3.3.2-python3.11

# Pinned runtime requirements; the constraints file keeps Airflow's own dependencies where the image has them.
COPY --chown=airflow:0 requirements.txt constraints.txt /opt/modelcare/
RUN pip install --no-cache-dir -r /opt/modelcare/requirements.txt -c /opt/modelcare/constraints.txt

# dags/, include/ and plugins/ are mounted by docker-compose.yaml; the bundle root must be importable
# (DAG files import include.modelcare).
ENV PYTHONPATH=/opt/airflow
