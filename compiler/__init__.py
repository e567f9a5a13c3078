"""dagspec: YAML specs compiled into static Airflow 3 DAG files."""
