#!/bin/sh
# Runs once, when the postgres image initialises an empty data volume (/docker-entrypoint-initdb.d).
# POSTGRES_USER is a superuser: it is used here only. Your app and PostgreSQL Admin connect as
#   app        – a plain login role that owns the `app` database (migrations, row writes)
#   app_reader – read-only (pg_read_all_data): the SQL console's read mode and viewers
# psql's :'name' quotes the values, so passwords with quotes are safe.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
     -v app_password="$APP_PASSWORD" -v reader_password="$APP_READER_PASSWORD" <<'SQL'
CREATE ROLE app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'app_password';
CREATE DATABASE app OWNER app;
CREATE ROLE app_reader LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE CONNECTION LIMIT 20 PASSWORD :'reader_password';
ALTER ROLE app_reader SET default_transaction_read_only = on;
GRANT pg_read_all_data TO app_reader;
SQL
