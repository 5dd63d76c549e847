-- A table shaped like the service's `devices` (same columns and widths of
-- values), filled with 10,000 rows, so that the floor reads a comparable row.
CREATE TABLE devices (
  id integer PRIMARY KEY AUTOINCREMENT NOT NULL,
  project_id integer NOT NULL,
  device_class text NOT NULL,
  name text DEFAULT '' NOT NULL,
  tag text DEFAULT '' NOT NULL,
  home_id integer,
  api_key_digest text NOT NULL,
  api_key_cipher text NOT NULL,
  claim_code_digest text NOT NULL,
  claim_code_cipher text NOT NULL,
  claim_time text,
  claim_expiration_time text,
  channel text,
  bundle_installed text,
  bundle_install_time text,
  is_connected integer DEFAULT false NOT NULL,
  last_connect_time text,
  last_disconnect_time text,
  creation_time text NOT NULL
);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)
INSERT INTO devices (project_id, device_class, api_key_digest, api_key_cipher, claim_code_digest, claim_code_cipher, creation_time)
SELECT 1, 'smart_light',
  printf('%064x', i), printf('%0100x', i), printf('%064x', i + 1000000), printf('%060x', i),
  '2026-01-01T00:00:00.000Z'
FROM n;
