-- pgvector: the vector type, distance operators (<->, <=>, <#>) and HNSW / IVFFlat indexes.
-- Runs once on an empty data volume; the image is pgvector's build of the same Postgres line.
CREATE EXTENSION IF NOT EXISTS vector;
