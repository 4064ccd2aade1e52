-- config_version_comparison as of the last dbt build, stored, so that the versions pages read a table
-- instead of pairing every outcome of history on each request.
select * from {{ ref('config_version_comparison') }}
